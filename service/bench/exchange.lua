-- wrk script: POST /api/v1/credentials/exchange with the API key in $API_KEY.
-- The body asks for one provider at the default lifetime, unless $EXCHANGE_BODY says otherwise.
local key = os.getenv("API_KEY")
if key == nil or key == "" then
  error("set API_KEY to a billing-service API key (bk_...)")
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = os.getenv("EXCHANGE_BODY") or '{"providers":["github"]}'
