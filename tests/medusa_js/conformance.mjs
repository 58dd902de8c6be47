// Medusa's own JavaScript client, @medusajs/medusa-js v1, against the example storefront.
//
//   node tests/medusa_js/conformance.mjs http://127.0.0.1:5000
//   STOREFRONT_URL=http://127.0.0.1:5000 node tests/medusa_js/conformance.mjs
//
// The storefront must run with FLASK_STOREFRONT_FAULTS=true, migrated and seeded. The client
// talks to it through a proxy (faulty_proxy.mjs) that can lose an answer or add a fault
// header for one request. Scenarios:
//
//   checkout        a whole checkout, every call a shop makes, results checked;
//   straight to completion
//                   a cart made without a region, one line item, completed at once: the
//                   default region, its default shipping and the manual payment provider;
//   lost answer     the first completion's answer is lost after the storefront sent it: the
//                   client retries by itself, with the same key, and gets that one order;
//   in flight       the client is cut off while the storefront is still completing: its
//                   retries meet the key in use (409, Retry-After) and then get the one order;
//   stage fault     the first completion fails in payment_authorized after its tax lines
//                   committed: the same key resumes there, nothing is done twice;
//   keys            every POST carried an Idempotency-Key, the same on every retry of one call.
//
// Exits 0 when every scenario passed; otherwise 1, naming what failed and showing the
// requests the proxy saw.

import Medusa from "@medusajs/medusa-js";

import { FaultyProxy } from "./faulty_proxy.mjs";

// Enough for the client to send keys and to wait out a key in use: medusa-js waits 0.5, 1.5,
// 3.5 and 7.5 s between tries, or Retry-After when the answer has one.
const MAX_RETRIES = 4;
// The whole run; a storefront that hangs fails it rather than the caller's patience.
const DEADLINE_SECONDS = 240;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

// A value for a message; medusa-js adds the whole HTTP exchange to each result as `response`.
function show(value) {
  return JSON.stringify(value, (name, member) => (name === "response" ? undefined : member));
}

function hasPrefix(id, prefix) {
  return typeof id === "string" && id.startsWith(prefix) && id.length > prefix.length;
}

function isAmount(value) {
  return Number.isInteger(value) && value >= 0;
}

// A rejected medusa-js call, as one line.
function describeError(error) {
  if (error instanceof Failure) return error.message;
  const config = error.config ?? {};
  const call = `${(config.method ?? "").toUpperCase()} ${config.url ?? ""}`.trim();
  if (error.response) {
    return `${call} answered ${error.response.status}: ${show(error.response.data)}`;
  }
  if (config.url) return `${call} got no answer (${error.code ?? error.message})`;
  return error.stack ?? String(error);
}

// What the shopper is charged is what the lines add up to.
function checkTotals(what, record) {
  for (const field of ["subtotal", "shipping_total", "tax_total", "total"]) {
    check(isAmount(record[field]), `${what}.${field} is not an amount in the smallest unit: ${show(record[field])}`);
  }
  const deducted = (record.discount_total ?? 0) + (record.gift_card_total ?? 0);
  const expected = record.subtotal + record.shipping_total + record.tax_total - deducted;
  check(
    record.total === expected,
    `${what}.total ${record.total} is not subtotal ${record.subtotal} + shipping ${record.shipping_total}` +
      ` + tax ${record.tax_total} - discounts ${deducted} = ${expected}`,
  );
}

function priceIn(variant, currency) {
  const price = (variant.prices ?? []).find((candidate) => candidate.currency_code === currency);
  return price?.amount;
}

class Shop {
  constructor(storefront, proxy, medusa) {
    this.storefront = storefront;
    this.proxy = proxy;
    this.medusa = medusa;
  }

  // The storefront's own count of what a cart's completion did, read past the proxy.
  async audit(cartId) {
    const answer = await fetch(`${this.storefront}/admin/carts/${cartId}/audit`);
    check(answer.ok, `GET /admin/carts/${cartId}/audit answered ${answer.status}`);
    return answer.json();
  }

  // The audit shows `orders` orders and as many payments, and one tax line for each line item
  // and shipping method: what one completion leaves, however often it was tried.
  async checkAudit(cartId, { orders }) {
    const counts = await this.audit(cartId);
    const taxed = counts.line_items + counts.shipping_methods;
    check(
      counts.orders === orders && counts.payments === orders && counts.tax_lines === taxed,
      `the audit of ${cartId} shows ${show(counts)}: expected ${orders} orders and payments` +
        ` and ${taxed} tax lines (one per line item and shipping method)`,
    );
    return counts;
  }

  async region() {
    const { regions } = await this.medusa.regions.list();
    check(Array.isArray(regions) && regions.length > 0, `regions.list gave no regions: ${show(regions)}`);
    return regions[0];
  }

  // Variants with a price in the currency, with their products.
  async pricedVariants(currency) {
    const { products } = await this.medusa.products.list();
    check(Array.isArray(products) && products.length > 0, `products.list gave no products: ${show(products)}`);
    return products.flatMap((product) =>
      (product.variants ?? [])
        .map((variant) => ({ product, variant, price: priceIn(variant, currency) }))
        .filter(({ price }) => price !== undefined),
    );
  }

  // A cart with one line, a shipping method and the manual payment session.
  async readyCart(quantity = 2) {
    const region = await this.region();
    const [{ variant }] = await this.pricedVariants(region.currency_code);
    let { cart } = await this.medusa.carts.create({ region_id: region.id });
    ({ cart } = await this.medusa.carts.lineItems.create(cart.id, { variant_id: variant.id, quantity }));
    const { shipping_options: options } = await this.medusa.shippingOptions.listCartOptions(cart.id);
    check(options?.length > 0, `shippingOptions.listCartOptions(${cart.id}) gave none`);
    ({ cart } = await this.medusa.carts.addShippingMethod(cart.id, { option_id: options[0].id }));
    ({ cart } = await this.medusa.carts.createPaymentSessions(cart.id));
    ({ cart } = await this.medusa.carts.setPaymentSession(cart.id, { provider_id: "manual" }));
    return cart;
  }

  completions(cartId) {
    return this.proxy.requestsTo("POST", `/store/carts/${cartId}/complete`);
  }

  onNextCompletion(cartId, fault) {
    const path = `/store/carts/${cartId}/complete`;
    this.proxy.once((method, requested) => method === "POST" && requested === path, fault);
  }
}

function orderIn(entry) {
  try {
    return JSON.parse(entry.body).data;
  } catch {
    return undefined;
  }
}

function sameKey(attempts) {
  const keys = new Set(attempts.map((attempt) => attempt.key));
  check(
    keys.size === 1 && UUID.test(attempts[0].key ?? ""),
    `the attempts of one completion carried keys ${show([...keys])}, not one uuid4`,
  );
  return attempts[0].key;
}

function summary(attempts) {
  return attempts
    .map((attempt) => `${attempt.status ?? "-"}${attempt.replayed ? " replayed" : ""} (${attempt.fate})`)
    .join(" -> ");
}

async function checkout(shop) {
  const { medusa } = shop;
  const region = await shop.region();
  check(hasPrefix(region.id, "reg_"), `region id ${show(region.id)} is not a reg_ id`);
  check(typeof region.currency_code === "string", `region has no currency_code: ${show(region)}`);
  check(typeof region.tax_rate === "number", `region.tax_rate is not a number: ${show(region.tax_rate)}`);

  const priced = await shop.pricedVariants(region.currency_code);
  check(priced.length >= 2, `fewer than two variants have a price in ${region.currency_code}`);
  const [first, second] = priced;
  check(hasPrefix(first.product.id, "prod_"), `product id ${show(first.product.id)} is not a prod_ id`);
  check(hasPrefix(first.variant.id, "variant_"), `variant id ${show(first.variant.id)} is not a variant_ id`);
  check(isAmount(first.price), `variant price ${show(first.price)} is not an amount`);
  const { product } = await medusa.products.retrieve(first.product.id);
  check(product?.id === first.product.id, `products.retrieve(${first.product.id}) gave ${show(product?.id)}`);
  check(
    product.variants.some((variant) => variant.id === first.variant.id),
    `products.retrieve(${first.product.id}) lacks variant ${first.variant.id}`,
  );

  let { cart } = await medusa.carts.create({ region_id: region.id });
  check(hasPrefix(cart?.id, "cart_"), `carts.create gave cart id ${show(cart?.id)}`);
  check(cart.region_id === region.id, `the cart's region_id is ${show(cart.region_id)}, not ${region.id}`);
  check(Array.isArray(cart.items) && cart.items.length === 0, `a new cart has items: ${show(cart.items)}`);

  const lineOf = (variant) => cart.items.find((item) => item.variant_id === variant.id);
  ({ cart } = await medusa.carts.lineItems.create(cart.id, { variant_id: first.variant.id, quantity: 1 }));
  ({ cart } = await medusa.carts.lineItems.create(cart.id, { variant_id: second.variant.id, quantity: 2 }));
  check(cart.items.length === 2, `two variants added, the cart has ${cart.items.length} lines`);
  check(hasPrefix(lineOf(first.variant)?.id, "item_"), `line item id ${show(lineOf(first.variant)?.id)}`);
  check(
    lineOf(first.variant).unit_price === first.price,
    `unit_price ${lineOf(first.variant).unit_price} is not the variant's price ${first.price}`,
  );
  check(lineOf(second.variant)?.quantity === 2, `the second line: ${show(lineOf(second.variant))}`);

  ({ cart } = await medusa.carts.lineItems.update(cart.id, lineOf(first.variant).id, { quantity: 3 }));
  check(lineOf(first.variant)?.quantity === 3, `lineItems.update to 3 gave ${show(lineOf(first.variant))}`);
  ({ cart } = await medusa.carts.lineItems.delete(cart.id, lineOf(second.variant).id));
  check(
    cart.items.length === 1 && lineOf(second.variant) === undefined,
    `after lineItems.delete the cart has ${show(cart.items.map((item) => item.variant_id))}`,
  );

  ({ cart } = await medusa.carts.update(cart.id, { email: "shopper@example.com" }));
  check(cart.email === "shopper@example.com", `carts.update left email ${show(cart.email)}`);
  ({ cart } = await medusa.carts.retrieve(cart.id));
  check(cart.subtotal === 3 * first.price, `subtotal ${cart.subtotal} is not 3 x ${first.price}`);

  const { shipping_options: options } = await medusa.shippingOptions.listCartOptions(cart.id);
  check(Array.isArray(options) && options.length > 0, `listCartOptions gave ${show(options)}`);
  const [option] = options;
  check(hasPrefix(option.id, "so_"), `shipping option id ${show(option.id)} is not a so_ id`);
  check(isAmount(option.amount), `shipping option amount ${show(option.amount)}`);
  ({ cart } = await medusa.carts.addShippingMethod(cart.id, { option_id: option.id }));
  check(
    cart.shipping_methods?.length === 1 && cart.shipping_methods[0].shipping_option_id === option.id,
    `addShippingMethod gave shipping_methods ${show(cart.shipping_methods)}`,
  );
  check(cart.shipping_total === option.amount, `shipping_total ${cart.shipping_total}, option amount ${option.amount}`);

  ({ cart } = await medusa.carts.createPaymentSessions(cart.id));
  check(
    cart.payment_sessions?.some((session) => session.provider_id === "manual"),
    `createPaymentSessions gave ${show(cart.payment_sessions)}`,
  );
  ({ cart } = await medusa.carts.setPaymentSession(cart.id, { provider_id: "manual" }));
  check(cart.payment_session?.provider_id === "manual", `setPaymentSession gave ${show(cart.payment_session)}`);
  checkTotals("cart", cart);
  if (region.tax_rate > 0) check(cart.tax_total > 0, `tax_rate ${region.tax_rate} %, tax_total 0`);

  const completed = await medusa.carts.complete(cart.id);
  check(completed.type === "order", `carts.complete gave type ${show(completed.type)}`);
  const order = completed.data;
  check(hasPrefix(order?.id, "order_"), `the order id ${show(order?.id)} is not an order_ id`);
  check(order.cart_id === cart.id, `the order's cart_id is ${show(order.cart_id)}`);
  checkTotals("order", order);
  for (const field of ["subtotal", "shipping_total", "tax_total", "total"]) {
    check(order[field] === cart[field], `order.${field} ${order[field]} is not the cart's ${cart[field]}`);
  }
  const [completion] = shop.completions(cart.id);
  check(UUID.test(completion?.key ?? ""), `carts.complete sent Idempotency-Key ${show(completion?.key)}`);

  const { order: retrieved } = await medusa.orders.retrieve(order.id);
  check(
    retrieved?.id === order.id && retrieved.total === order.total,
    `orders.retrieve(${order.id}) gave ${show(retrieved?.id)}, total ${retrieved?.total}`,
  );
  const { order: byCart } = await medusa.orders.retrieveByCartId(cart.id);
  check(byCart?.id === order.id, `orders.retrieveByCartId(${cart.id}) gave ${show(byCart?.id)}`);

  await shop.checkAudit(cart.id, { orders: 1 });
  return `order ${order.id}: subtotal ${order.subtotal} + shipping ${order.shipping_total} + tax ${order.tax_total} = ${order.total} ${region.currency_code}`;
}

// A client that goes from line items straight to completion, as older storefronts do.
async function straightToCompletion(shop) {
  const { medusa } = shop;
  let { cart } = await medusa.carts.create();
  check(hasPrefix(cart?.region_id, "reg_"), `a cart made without region_id has region_id ${show(cart?.region_id)}`);
  const { regions } = await medusa.regions.list();
  const region = regions.find((candidate) => candidate.id === cart.region_id);
  check(region !== undefined, `the default region ${cart.region_id} is not in regions.list`);
  const [{ variant }] = await shop.pricedVariants(region.currency_code);
  ({ cart } = await medusa.carts.lineItems.create(cart.id, { variant_id: variant.id, quantity: 1 }));

  const { type, data: order } = await medusa.carts.complete(cart.id);

  check(type === "order" && order?.cart_id === cart.id, `carts.complete gave ${show({ type, order })}`);
  checkTotals("order", order);
  const counts = await shop.checkAudit(cart.id, { orders: 1 });
  check(counts.shipping_methods === 1, `the region's default shipping was not chosen: ${show(counts)}`);
  return `order ${order.id}: subtotal ${order.subtotal} + shipping ${order.shipping_total} + tax ${order.tax_total} = ${order.total} ${region.currency_code}`;
}

async function lostAnswer(shop) {
  const cart = await shop.readyCart();
  shop.onNextCompletion(cart.id, { loseAnswer: "after-reply" });

  const completed = await shop.medusa.carts.complete(cart.id);

  const attempts = shop.completions(cart.id);
  check(attempts.length >= 2, `the client did not retry a lost answer: ${summary(attempts)}`);
  sameKey(attempts);
  const original = orderIn(attempts[0]);
  check(attempts[0].status === 200 && original?.id, `the first attempt did not make an order: ${summary(attempts)}`);
  check(completed.data?.id === original.id, `the retry gave order ${show(completed.data?.id)}, the first made ${original.id}`);
  check(
    completed.response.headers["idempotent-replayed"] === "true",
    `the retry's answer is not a replay: ${summary(attempts)}`,
  );
  await shop.checkAudit(cart.id, { orders: 1 });
  return `complete: ${summary(attempts)}`;
}

async function inFlight(shop) {
  const cart = await shop.readyCart();
  shop.onNextCompletion(cart.id, { loseAnswer: "at-once" });

  // A custom header, sent with every try: the first holds payment_authorized open a second.
  const completed = await shop.medusa.carts.complete(cart.id, { "X-Storefront-Delay": "1" });

  await Promise.allSettled([...shop.proxy.pending]);
  const attempts = shop.completions(cart.id);
  check(attempts.length >= 2, `the client did not retry after losing its connection: ${summary(attempts)}`);
  sameKey(attempts);
  const original = orderIn(attempts[0]);
  check(attempts[0].status === 200 && original?.id, `the first attempt did not make an order: ${summary(attempts)}`);
  for (const retry of attempts.slice(1, -1)) {
    check(retry.status === 409, `a retry before the last answered ${retry.status}: ${summary(attempts)}`);
  }
  check(completed.data?.id === original.id, `the retries gave order ${show(completed.data?.id)}, the first made ${original.id}`);
  await shop.checkAudit(cart.id, { orders: 1 });
  return `complete: ${summary(attempts)}`;
}

async function stageFault(shop) {
  const cart = await shop.readyCart();
  shop.onNextCompletion(cart.id, { addHeaders: { "X-Storefront-Fault": "payment_authorized" } });

  let completed;
  let note;
  try {
    completed = await shop.medusa.carts.complete(cart.id);
  } catch (error) {
    // medusa-js retries 501-599 but not a 500; a shop then tries again itself. Sent with the
    // same key (a custom header overrides the one the client makes), the try resumes after
    // the stage that committed.
    const attempts = shop.completions(cart.id);
    check(error.response?.status === 500, `the failed completion: ${describeError(error)}`);
    check(attempts.length === 1, `medusa-js retried a 500: ${summary(attempts)}`);
    // The tax lines stage had committed before the fault.
    await shop.checkAudit(cart.id, { orders: 0 });
    completed = await shop.medusa.carts.complete(cart.id, { "Idempotency-Key": attempts[0].key });
    note = "medusa-js does not retry a 500; the shop's own retry with the same key resumed";
  }
  const attempts = shop.completions(cart.id);
  check(attempts.length >= 2, `one attempt only: ${summary(attempts)}`);
  sameKey(attempts);
  check(attempts[0].status >= 500, `the faulted attempt answered ${attempts[0].status}`);
  check(completed.type === "order" && hasPrefix(completed.data?.id, "order_"), `no order after the fault: ${show(completed)}`);
  await shop.checkAudit(cart.id, { orders: 1 });
  return `complete: ${summary(attempts)}${note ? `; ${note}` : ""}`;
}

function keys(shop) {
  const posts = shop.proxy.log.filter((entry) => entry.method === "POST");
  const keyless = posts.filter((entry) => !UUID.test(entry.key ?? ""));
  check(keyless.length === 0, `POSTs without a uuid4 Idempotency-Key: ${show(keyless.map((entry) => entry.path))}`);
  const gets = shop.proxy.log.filter((entry) => entry.method === "GET" && entry.key !== null);
  check(gets.length === 0, `GETs with an Idempotency-Key: ${show(gets.map((entry) => entry.path))}`);
  return `${posts.length} POSTs, each with a uuid4 key`;
}

const SCENARIOS = [
  ["checkout", checkout],
  ["straight to completion", straightToCompletion],
  ["lost answer", lostAnswer],
  ["in flight", inFlight],
  ["stage fault", stageFault],
  ["keys", keys],
];

function printRequests(entries) {
  for (const entry of entries) {
    const key = entry.key ? ` key=${entry.key}` : "";
    console.log(`    ${entry.method} ${entry.path}${key} -> ${entry.status ?? "-"}${entry.replayed ? " replayed" : ""} (${entry.fate})`);
    if (entry.status !== null && entry.status >= 400) console.log(`      ${entry.body}`);
  }
}

async function main() {
  const storefront = (process.argv[2] ?? process.env.STOREFRONT_URL ?? "").replace(/\/+$/, "");
  if (!storefront) {
    console.error("usage: node tests/medusa_js/conformance.mjs <storefront URL> (or set STOREFRONT_URL)");
    return 2;
  }
  setTimeout(() => {
    console.error(`FAIL: the run took longer than ${DEADLINE_SECONDS} s`);
    process.exit(1);
  }, DEADLINE_SECONDS * 1000).unref();

  try {
    await fetch(`${storefront}/store/regions`);
  } catch (error) {
    console.log(`FAIL  the storefront at ${storefront} does not answer: ${error.cause?.message ?? error.message}`);
    return 1;
  }

  const proxy = new FaultyProxy(storefront);
  const medusa = new Medusa({ baseUrl: await proxy.start(), maxRetries: MAX_RETRIES });
  const shop = new Shop(storefront, proxy, medusa);
  let failed = 0;
  for (const [name, scenario] of SCENARIOS) {
    const seen = proxy.log.length;
    try {
      const outcome = await scenario(shop);
      console.log(`ok    ${name}: ${outcome}`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL  ${name}: ${describeError(error)}`);
      console.log("  requests through the proxy:");
      printRequests(proxy.log.slice(seen));
    }
  }
  await proxy.close();
  console.log(failed ? `${failed} of ${SCENARIOS.length} scenarios failed` : `all ${SCENARIOS.length} scenarios passed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
