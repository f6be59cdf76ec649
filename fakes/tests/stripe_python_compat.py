#!/usr/bin/env python3
"""Drives the Stripe fake with Stripe's official Python client (the `stripe` package).

Usage: python3 stripe_python_compat.py http://127.0.0.1:PORT

A journey a billing service makes: webhook endpoint, customer, card attached and set as
default, a monthly Pro price found by lookup key, a subscription paid at once, a declined
off-session charge raising stripe.CardError with its decline_code and charge, idempotent
retries, auto-pagination (also within a created[gte]/created[lt] window), a test clock advance, a partial refund, a SetupIntent and an
off-session charge on the card it saved, a subscription update with prorations and its invoice
preview, a declined renewal retried on the schedule until the subscription is unpaid and then
paid by hand, a customer search, and every webhook verified with stripe.Webhook.construct_event.
Exit 0 on success; 3 if the `stripe` module is missing.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

PINNED = "16.1.0"

try:
    import stripe
except ImportError:
    print(f"the official Stripe Python client is missing: pip install stripe=={PINNED}", file=sys.stderr)
    sys.exit(3)


class Deliveries:
    """Webhook deliveries received by the local endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, payload, signature):
        with self.lock:
            self.items.append((payload, signature))

    def snapshot(self):
        with self.lock:
            return list(self.items)


def start_receiver(deliveries):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            payload = self.rfile.read(length).decode("utf-8")
            deliveries.add(payload, self.headers.get("Stripe-Signature", ""))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/webhook"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def wait_until(predicate, deadline_seconds, what):
    until = time.monotonic() + deadline_seconds
    while time.monotonic() < until:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def main(base_url):
    if stripe.VERSION != PINNED:
        print(f"note: stripe {stripe.VERSION} installed, the compatibility check pins {PINNED}", file=sys.stderr)
    stripe.api_key = "sk_test_compat_123"
    stripe.api_base = base_url
    stripe.max_network_retries = 0

    deliveries = Deliveries()
    server, hook_url = start_receiver(deliveries)
    endpoint = stripe.WebhookEndpoint.create(url=hook_url, enabled_events=["*"])
    secret = endpoint.secret
    check(secret.startswith("whsec_"), f"endpoint secret {secret!r}")

    customer = stripe.Customer.create(email="ada@example.com", name="Ada", metadata={"app_customer": "42"})
    check(customer.id.startswith("cus_") and customer.metadata["app_customer"] == "42", customer)
    again = stripe.Customer.create(email="ada@example.com", name="Ada", metadata={"app_customer": "42"}, idempotency_key="signup-42")
    replay = stripe.Customer.create(email="ada@example.com", name="Ada", metadata={"app_customer": "42"}, idempotency_key="signup-42")
    check(again.id == replay.id, "idempotent retry returned another customer")

    card = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    check(card.card.last4 == "4242" and card.customer == customer.id, card)
    customer = stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": card.id})
    check(customer.invoice_settings.default_payment_method == card.id, customer)
    listed = stripe.Customer.list_payment_methods(customer.id)
    check([m.id for m in listed.data] == [card.id], listed)

    price = stripe.Price.create(
        unit_amount=59900, currency="usd", recurring={"interval": "month"}, product_data={"name": "Pro"}, lookup_key="pro_monthly"
    )
    found = stripe.Price.list(lookup_keys=["pro_monthly"])
    check([p.id for p in found.data] == [price.id], found)

    subscription = stripe.Subscription.create(
        customer=customer.id, items=[{"price": price.id}], expand=["latest_invoice.payment_intent"], metadata={"plan": "pro"}
    )
    check(subscription.status == "active", subscription.status)
    check(subscription.latest_invoice.status == "paid", subscription.latest_invoice)
    check(subscription.latest_invoice.amount_paid == 59900, subscription.latest_invoice.amount_paid)
    item = subscription["items"].data[0]
    check(item.current_period_end > item.current_period_start, item)
    check(stripe.Subscription.retrieve(subscription.id).id == subscription.id, "retrieve")
    updated = stripe.Subscription.modify(subscription.id, cancel_at_period_end=True)
    check(updated.cancel_at_period_end is True, updated)

    declining = stripe.Customer.create(email="broke@example.com")
    bad_card = stripe.PaymentMethod.attach("pm_card_chargeDeclined", customer=declining.id)
    try:
        stripe.PaymentIntent.create(
            amount=2900, currency="usd", customer=declining.id, payment_method=bad_card.id, confirm=True, off_session=True
        )
        raise AssertionError("a declined card did not raise")
    except stripe.CardError as error:
        check(error.code == "card_declined", error.code)
        check(error.error.decline_code == "generic_decline", error.error.decline_code)
        check(error.http_status == 402, error.http_status)
        check(error.error.payment_intent.status == "requires_payment_method", error.error.payment_intent)
        check(error.error.charge.startswith("ch_"), error.error.charge)
        check(error.error.payment_intent.latest_charge == error.error.charge, error.error.payment_intent)

    try:
        stripe.Customer.retrieve("cus_does_not_exist")
        raise AssertionError("an unknown customer did not raise")
    except stripe.InvalidRequestError as error:
        check(error.http_status == 404 and error.param == "id", error)

    ids = [c.id for c in stripe.Customer.list(limit=1).auto_paging_iter()]
    check(len(ids) == 3 and len(set(ids)) == 3, ids)
    newest = stripe.Customer.retrieve(ids[0]).created
    window = [c.id for c in stripe.Customer.list(limit=1, created={"gte": newest, "lt": newest + 1}).auto_paging_iter()]
    check(ids[0] in window and set(window) <= set(ids), window)

    clock = stripe.test_helpers.TestClock.create(frozen_time=1767225600)
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1767225600 + 10 * 86400)
    wait_until(lambda: stripe.test_helpers.TestClock.retrieve(clock.id).status == "ready", 10, "the test clock")

    intent = stripe.PaymentIntent.create(amount=5000, currency="usd", customer=customer.id, confirm=True, off_session=True)
    refund = stripe.Refund.create(payment_intent=intent.id, amount=2000)
    check(refund.status == "succeeded" and refund.amount == 2000, refund)
    charge = stripe.Charge.retrieve(intent.latest_charge)
    check(charge.amount_refunded == 2000 and charge.refunded is False, charge)
    try:
        stripe.Refund.create(charge=charge.id, amount=3001)
        raise AssertionError("an over-refund did not raise")
    except stripe.InvalidRequestError as error:
        check(error.code == "amount_too_large" and error.param == "amount", error)

    saver = stripe.Customer.create(email="saver@example.com")
    setup = stripe.SetupIntent.create(customer=saver.id, payment_method="pm_card_visa", confirm=True)
    check(setup.status == "succeeded", setup)
    saved = stripe.PaymentIntent.create(
        amount=2900, currency="usd", customer=saver.id, payment_method=setup.payment_method, confirm=True, off_session=True
    )
    check(saved.status == "succeeded", saved)
    try:
        stripe.SetupIntent.create(customer=saver.id, payment_method="pm_card_chargeDeclined", confirm=True)
        raise AssertionError("a declined setup did not raise")
    except stripe.CardError as error:
        check(error.error.setup_intent.status == "requires_payment_method", error.error.setup_intent)

    on_clock = stripe.Customer.create(
        email="clock@example.com",
        test_clock=clock.id,
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )
    clock_sub = stripe.Subscription.create(customer=on_clock.id, items=[{"price": price.id}])
    item = clock_sub["items"].data[0]
    when = item.current_period_start + 5 * 86400
    preview = stripe.Invoice.create_preview(
        subscription=clock_sub.id, subscription_details={"items": [{"id": item.id, "quantity": 3}], "proration_date": when}
    )
    check(len(preview.lines.data) == 3, preview.lines.data)
    stripe.Subscription.modify(clock_sub.id, items=[{"id": item.id, "quantity": 3}], proration_date=when)
    pending = stripe.InvoiceItem.list(customer=on_clock.id, pending=True)
    check(sorted(i.amount for i in pending.data) == sorted(l.amount for l in preview.lines.data[:2]), pending)

    # A renewal whose card declines: retried 3, 5 and 7 days apart, then unpaid; paying the open
    # invoice with a fixed card makes the subscription active again.
    dunning_clock = stripe.test_helpers.TestClock.create(frozen_time=1767225600)
    dunning = stripe.Customer.create(
        email="dunning@example.com",
        test_clock=dunning_clock.id,
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )
    dunning_sub = stripe.Subscription.create(customer=dunning.id, items=[{"price": price.id}])
    declining = stripe.PaymentMethod.attach("pm_card_chargeDeclinedInsufficientFunds", customer=dunning.id)
    stripe.Customer.modify(dunning.id, invoice_settings={"default_payment_method": declining.id})
    stripe.test_helpers.TestClock.advance(dunning_clock.id, frozen_time=1767225600 + 46 * 86400)
    wait_until(lambda: stripe.test_helpers.TestClock.retrieve(dunning_clock.id).status == "ready", 10, "the retries")
    unpaid = stripe.Subscription.retrieve(dunning_sub.id, expand=["latest_invoice"])
    check(unpaid.status == "unpaid", unpaid.status)
    check(unpaid.latest_invoice.attempt_count == 4 and unpaid.latest_invoice.next_payment_attempt is None, unpaid.latest_invoice)
    fixed = stripe.PaymentMethod.attach("pm_card_visa", customer=dunning.id)
    paid = stripe.Invoice.pay(unpaid.latest_invoice.id, payment_method=fixed.id)
    check(paid.status == "paid", paid.status)
    check(stripe.Subscription.retrieve(dunning_sub.id).status == "active", "active again once paid")

    found = stripe.Customer.search(query="email:'ada@example.com' AND metadata['app_customer']:'42'")
    check([c.id for c in found.data] == [again.id, customer.id], found)

    wanted = {
        "customer.created",
        "payment_method.attached",
        "invoice.paid",
        "payment_intent.payment_failed",
        "charge.refunded",
        "setup_intent.succeeded",
        "invoiceitem.created",
        "invoice.payment_failed",
    }

    def verified_types():
        types = set()
        for payload, signature in deliveries.snapshot():
            event = stripe.Webhook.construct_event(payload, signature, secret)
            types.add(event.type)
        return types if wanted <= types else None

    wait_until(verified_types, 10, f"webhooks {sorted(wanted)}")
    try:
        payload, signature = deliveries.snapshot()[0]
        stripe.Webhook.construct_event(payload, signature, "whsec_wrong")
        raise AssertionError("a wrong secret verified")
    except stripe.SignatureVerificationError:
        pass
    server.shutdown()
    print(f"OK: stripe-python {stripe.VERSION} ran the journey against {base_url}; {len(deliveries.snapshot())} webhooks verified")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: stripe_python_compat.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1].rstrip("/"))
