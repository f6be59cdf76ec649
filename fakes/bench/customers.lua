-- wrk script: POST /v1/customers with a form body, as a Stripe client sends it.
wrk.method = "POST"
wrk.path = "/v1/customers"
wrk.headers["Authorization"] = "Bearer sk_test_bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "email=bench%40example.com&name=Bench+User&metadata[plan]=pro&metadata[source]=wrk"
