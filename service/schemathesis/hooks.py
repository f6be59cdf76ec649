"""schemathesis hooks for the billing service (loaded through SCHEMATHESIS_HOOKS by
service/tests/api/schemathesis.rs).

An Idempotency-Key names one intent per customer: the same key with a different request is
refused (422 `idempotency_key_reused`), as the document says. Generated keys repeat ("0", "A"…),
so a valid key is made unique before each call; an invalid one is kept, so the 400 for invalid
keys is still exercised.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and VALID_KEY.match(headers[name]):
            headers[name] = f"fuzz-{uuid.uuid4()}"
