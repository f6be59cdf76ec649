-- wrk script: POST /v1/payment_intents, confirmed off-session on a customer's default card.
-- The customer id comes as the script argument: wrk ... -s payment_intents.lua URL -- cus_123
local request_bytes

function init(args)
  local customer = args[1] or "missing_customer"
  local body = "amount=2900&currency=usd&customer=" .. customer ..
    "&confirm=true&off_session=true&metadata[fix]=bench"
  request_bytes = wrk.format("POST", "/v1/payment_intents", {
    ["Authorization"] = "Bearer sk_test_bench",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

function request()
  return request_bytes
end
