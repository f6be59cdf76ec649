-- wrk script: POST /v1/customers with a distinct e-mail each, stopping after a number of requests.
--   wrk -t1 -c8 -d600s -s fill_customers.lua URL -- COUNT [PREFIX]
-- COUNT is per wrk thread; PREFIX keeps e-mails distinct across runs (default "c").
local remaining
local prefix
local counter = 0

function init(args)
  remaining = tonumber(args[1] or "10000")
  prefix = args[2] or "c"
end

function request()
  counter = counter + 1
  local body = "email=" .. prefix .. counter .. "%40example.com&name=Bench+User&metadata[plan]=pro&metadata[source]=wrk"
  return wrk.format("POST", "/v1/customers", {
    ["Authorization"] = "Bearer sk_test_bench",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

function response(status, headers, body)
  remaining = remaining - 1
  if remaining <= 0 then
    wrk.thread:stop()
  end
end
