-- wrk script: GET one path (an object, or a filtered list) with a test key.
--   wrk ... -s get.lua URL -- /v1/customers/cus_123
local path

function init(args)
  path = args[1] or "/v1/customers"
end

function request()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer sk_test_bench" })
end
