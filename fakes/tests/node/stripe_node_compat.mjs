// Drives the Stripe fake with Stripe's official Node client (the `stripe` package pinned in
// package.json next to this file).
//
// Usage: node stripe_node_compat.mjs http://127.0.0.1:PORT
//
// A billing service's journey: webhook endpoint, customers, a card attached and set as default,
// a Pro subscription, declines raising StripeCardError with charge and payment_intent, idempotent
// retries, auto-pagination, a test clock renewal, refunds, SetupIntents and an off-session charge
// on the card they saved, a subscription update with prorations, the invoice preview, search, a
// request pinned to an older API version, and every delivered webhook verified with
// stripe.webhooks.constructEvent. Each step prints its name; the first failure exits non-zero.

import http from 'node:http';

let Stripe;
try {
  ({ default: Stripe } = await import('stripe'));
} catch (error) {
  console.error(`the official Stripe Node client is missing (${error.message}): cd fakes/tests/node && npm ci`);
  process.exit(3);
}

const JAN_1_2026 = 1767225600;
const DAY = 86400;

function check(condition, message) {
  if (!condition) {
    throw new Error(`check failed: ${typeof message === 'string' ? message : JSON.stringify(message)}`);
  }
}

async function step(name, body) {
  process.stdout.write(`- ${name} ... `);
  await body();
  process.stdout.write('ok\n');
}

async function waitUntil(what, deadlineMs, probe) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function expectError(promise, type) {
  try {
    await promise;
  } catch (error) {
    check(error.type === type, `expected ${type}, got ${error.type}: ${error.message}`);
    return error;
  }
  throw new Error(`expected ${type}, but the call succeeded`);
}

function startReceiver() {
  const deliveries = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      deliveries.push({ payload: body, signature: request.headers['stripe-signature'] });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, deliveries, url: `http://127.0.0.1:${server.address().port}/webhook` }));
  });
}

async function main(baseUrl) {
  const base = new URL(baseUrl);
  const stripe = new Stripe('sk_test_node_compat', {
    host: base.hostname,
    port: Number(base.port),
    protocol: base.protocol.replace(':', ''),
    maxNetworkRetries: 0,
    telemetry: false,
  });
  const receiver = await startReceiver();
  let secret;
  let customer;
  let card;
  let price;
  let subscription;

  await step('webhook endpoint', async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    secret = endpoint.secret;
    check(secret.startsWith('whsec_'), endpoint);
  });

  await step('customers, idempotency', async () => {
    customer = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada', metadata: { app_customer: '42' } });
    check(customer.id.startsWith('cus_') && customer.metadata.app_customer === '42', customer);
    const first = await stripe.customers.create({ email: 'grace@example.com' }, { idempotencyKey: 'signup-7' });
    const replay = await stripe.customers.create({ email: 'grace@example.com' }, { idempotencyKey: 'signup-7' });
    check(first.id === replay.id, 'an idempotent retry made another customer');
    check(replay.lastResponse.headers['idempotent-replayed'] === 'true', replay.lastResponse.headers);
    const updated = await stripe.customers.update(customer.id, { name: 'Ada Lovelace' });
    check(updated.name === 'Ada Lovelace', updated);
    check((await stripe.customers.retrieve(customer.id)).name === 'Ada Lovelace', 'retrieve');
  });

  await step('cards', async () => {
    card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    check(card.card.last4 === '4242' && card.customer === customer.id, card);
    customer = await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
    check(customer.invoice_settings.default_payment_method === card.id, customer);
    const listed = await stripe.customers.listPaymentMethods(customer.id);
    check(listed.data.map((m) => m.id).join() === card.id, listed);
  });

  await step('Pro subscription', async () => {
    price = await stripe.prices.create({
      unit_amount: 59900, currency: 'usd', recurring: { interval: 'month' }, product_data: { name: 'Pro' }, lookup_key: 'pro_monthly',
    });
    const found = await stripe.prices.list({ lookup_keys: ['pro_monthly'] });
    check(found.data.length === 1 && found.data[0].id === price.id, found);
    subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], expand: ['latest_invoice'] });
    check(subscription.status === 'active', subscription.status);
    check(subscription.latest_invoice.status === 'paid' && subscription.latest_invoice.amount_paid === 59900, subscription.latest_invoice);
    check(subscription.latest_invoice.parent.subscription_details.subscription === subscription.id, subscription.latest_invoice.parent);
    const item = subscription.items.data[0];
    check(item.current_period_end > item.current_period_start, item);
  });

  await step('declines carry the charge and the PaymentIntent', async () => {
    const broke = await stripe.customers.create({ email: 'broke@example.com' });
    const badCard = await stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: broke.id });
    const error = await expectError(
      stripe.paymentIntents.create({ amount: 2900, currency: 'usd', customer: broke.id, payment_method: badCard.id, confirm: true, off_session: true }),
      'StripeCardError',
    );
    check(error.statusCode === 402 && error.code === 'card_declined' && error.decline_code === 'generic_decline', error.raw);
    check(typeof error.charge === 'string' && error.charge.startsWith('ch_'), `error.charge ${error.charge}`);
    check(error.payment_intent.status === 'requires_payment_method', error.payment_intent);
    check(error.payment_intent.latest_charge === error.charge, error.payment_intent);
    const failed = await stripe.charges.retrieve(error.charge);
    check(failed.status === 'failed', failed);
    const missing = await expectError(stripe.customers.retrieve('cus_does_not_exist'), 'StripeInvalidRequestError');
    check(missing.statusCode === 404 && missing.param === 'id' && missing.code === 'resource_missing', missing.raw);
  });

  await step('auto-pagination', async () => {
    const all = await stripe.customers.list({ limit: 1 }).autoPagingToArray({ limit: 100 });
    check(all.length === 3 && new Set(all.map((c) => c.id)).size === 3, all.map((c) => c.id));
  });

  await step('refunds', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', customer: customer.id, confirm: true, off_session: true });
    check(intent.status === 'succeeded', intent);
    const partial = await stripe.refunds.create({ payment_intent: intent.id, amount: 1500 });
    check(partial.status === 'succeeded' && partial.amount === 1500, partial);
    let charge = await stripe.charges.retrieve(intent.latest_charge);
    check(charge.amount_refunded === 1500 && charge.refunded === false, charge);
    const tooMuch = await expectError(stripe.refunds.create({ charge: charge.id, amount: 4000 }), 'StripeInvalidRequestError');
    check(tooMuch.code === 'amount_too_large' && tooMuch.param === 'amount', tooMuch.raw);
    await stripe.refunds.create({ charge: charge.id });
    charge = await stripe.charges.retrieve(charge.id);
    check(charge.amount_refunded === 5000 && charge.refunded === true, charge);
    const refunds = await stripe.refunds.list({ payment_intent: intent.id });
    check(refunds.data.length === 2, refunds);
  });

  await step('SetupIntents, then an off-session charge on the saved card', async () => {
    const saver = await stripe.customers.create({ email: 'saver@example.com' });
    const setup = await stripe.setupIntents.create({ customer: saver.id, payment_method: 'pm_card_mastercard', confirm: true, usage: 'off_session' });
    check(setup.status === 'succeeded', setup);
    const saved = await stripe.paymentMethods.retrieve(setup.payment_method);
    check(saved.customer === saver.id, saved);
    const charged = await stripe.paymentIntents.create({
      amount: 2900, currency: 'usd', customer: saver.id, payment_method: saved.id, confirm: true, off_session: true,
    });
    check(charged.status === 'succeeded', charged);
    const declined = await expectError(
      stripe.setupIntents.create({ customer: saver.id, payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true }),
      'StripeCardError',
    );
    check(declined.decline_code === 'insufficient_funds', declined.raw);
    check(declined.setup_intent.status === 'requires_payment_method', declined.setup_intent);
    const failed = await stripe.setupIntents.retrieve(declined.setup_intent.id);
    check(failed.last_setup_error.decline_code === 'insufficient_funds', failed);
  });

  let clock;
  let clockSubscription;
  await step('test clock, subscription update with prorations, invoice preview', async () => {
    clock = await stripe.testHelpers.testClocks.create({ frozen_time: JAN_1_2026 });
    const onClock = await stripe.customers.create({
      email: 'clock@example.com', test_clock: clock.id, payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    clockSubscription = await stripe.subscriptions.create({ customer: onClock.id, items: [{ price: price.id }] });
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_1_2026 + 10 * DAY });
    await waitUntil('the test clock', 10000, async () => (await stripe.testHelpers.testClocks.retrieve(clock.id)).status === 'ready');

    const item = clockSubscription.items.data[0].id;
    const date = JAN_1_2026 + 10 * DAY;
    const preview = await stripe.invoices.createPreview({
      subscription: clockSubscription.id,
      subscription_details: { items: [{ id: item, quantity: 2 }], proration_date: date },
    });
    check(preview.lines.data.length === 3, preview.lines.data);
    const updated = await stripe.subscriptions.update(clockSubscription.id, {
      items: [{ id: item, quantity: 2 }], proration_behavior: 'create_prorations', proration_date: date,
    });
    check(updated.items.data[0].quantity === 2, updated);
    const pending = await stripe.invoiceItems.list({ customer: onClock.id, pending: true });
    const amounts = pending.data.map((i) => i.amount).sort((a, b) => a - b);
    check(amounts[0] === -Math.round((59900 * 21) / 31) && amounts[1] === Math.round((119800 * 21) / 31), amounts);

    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: JAN_1_2026 + 32 * DAY });
    await waitUntil('the renewal', 10000, async () => (await stripe.testHelpers.testClocks.retrieve(clock.id)).status === 'ready');
    const invoices = await stripe.invoices.list({ subscription: clockSubscription.id, limit: 1 });
    const renewal = invoices.data[0];
    check(renewal.billing_reason === 'subscription_cycle' && renewal.status === 'paid', renewal);
    check(renewal.total === preview.total, `renewal ${renewal.total} vs preview ${preview.total}`);
  });

  await step('search', async () => {
    const found = await stripe.customers.search({ query: "email:'ada@example.com' AND metadata['app_customer']:'42'" });
    check(found.object === 'search_result' && found.data.length === 1 && found.data[0].id === customer.id, found);
    const everyone = await stripe.customers.search({ query: "email~'example.com'", limit: 2 }).autoPagingToArray({ limit: 100 });
    check(everyone.length === 5, everyone.map((c) => c.email));
  });

  await step('a request pinned to an older API version', async () => {
    const old = await stripe.subscriptions.retrieve(subscription.id, {}, { apiVersion: '2025-02-24.acacia' });
    check(typeof old.current_period_end === 'number', old);
    check(old.lastResponse.headers['stripe-version'] === '2025-02-24.acacia', old.lastResponse.headers);
  });

  await step('webhooks verified with constructEvent', async () => {
    const wanted = ['customer.created', 'payment_method.attached', 'invoice.paid', 'payment_intent.payment_failed', 'charge.refunded', 'refund.created', 'setup_intent.succeeded', 'setup_intent.setup_failed', 'customer.subscription.updated', 'invoiceitem.created'];
    const types = await waitUntil(`webhooks ${wanted}`, 10000, async () => {
      const seen = new Set(receiver.deliveries.map(({ payload, signature }) => stripe.webhooks.constructEvent(payload, signature, secret).type));
      return wanted.every((t) => seen.has(t)) ? seen : null;
    });
    check(types.size >= wanted.length, [...types]);
    const { payload, signature } = receiver.deliveries[0];
    let refused = false;
    try {
      stripe.webhooks.constructEvent(payload, signature, 'whsec_wrong');
    } catch (error) {
      refused = error.type === 'StripeSignatureVerificationError';
    }
    check(refused, 'a wrong secret verified');
  });

  receiver.server.close();
  console.log(`OK: stripe-node ${Stripe.PACKAGE_VERSION} ran the journey against ${baseUrl}; ${receiver.deliveries.length} webhooks verified`);
}

if (process.argv.length !== 3) {
  console.error('usage: node stripe_node_compat.mjs BASE_URL');
  process.exit(2);
}
main(process.argv[2].replace(/\/$/, '')).catch((error) => {
  console.error(`\nFAILED: ${error.stack || error}`);
  if (error.raw) console.error(JSON.stringify(error.raw, null, 2));
  process.exit(1);
});
