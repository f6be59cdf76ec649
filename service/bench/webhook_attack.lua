-- Floods POST /api/webhooks/stripe with what an attacker can send without the secret:
-- a 1 MiB body and a Stripe-Signature header with a fresh timestamp and either the most v1
-- entries the service reads (MODE=max_signatures: each request costs one HMAC of the body per
-- configured secret) or 1,000 of them (MODE=many_signatures: refused from the header alone;
-- 1,000 entries are 68 KB, near the 80 KB of headers wrk's own request check accepts).
local mode = os.getenv("MODE") or "max_signatures"
local count = mode == "many_signatures" and 1000 or 8
local body = string.rep("x", 1024 * 1024)

request = function()
  local signatures = {}
  for i = 1, count do
    signatures[i] = "v1=" .. string.rep("ab", 32)
  end
  local header = "t=" .. os.time() .. "," .. table.concat(signatures, ",")
  return wrk.format("POST", "/api/webhooks/stripe", {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = header,
  }, body)
end
