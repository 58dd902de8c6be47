/*
 * "Place order" on the review page (templates/review.html): completes the cart with
 * POST /store/carts/<id>/complete, safely however often the shopper clicks.
 *
 * Shoppers double-click, reload while the order is being placed, and lose the connection just
 * as the answer is on its way. None of that may place or charge an order twice. This script
 * does not try to stop the second click: a disabled button does not survive a reload, and no
 * page can know whether a request whose answer was lost ran. Instead every request of one
 * checkout attempt carries the same Idempotency-Key, and the server runs the completion once
 * per key: a repeat gets the stored order, or, while the first request is still running, a 409
 * that says to come back shortly.
 *
 * The key lives in sessionStorage under "checkout-attempt:<cart id>", so that it survives a
 * reload of the tab, and is dropped only when the attempt has a final answer: an order shown,
 * or a refusal that sending the key again would only repeat.
 */
(function () {
  "use strict";

  const page = document.getElementById("checkout");
  const placeOrderButton = document.getElementById("place-order");
  const statusLine = document.getElementById("checkout-status");
  if (!page || !placeOrderButton || !statusLine) {
    return;
  }
  const cartId = page.dataset.cartId;
  const completeUrl = page.dataset.completeUrl;

  // At most 8 requests per click, 0.5, 1, 2, 4, 4, 4 and 4 s apart (about 20 s in all): long
  // enough for a dropped connection to come back and for the server to free the key of a
  // request that died (the storefront's lock timeout is 2 s), short enough that a shopper is
  // not left waiting on a dead network.
  const MAX_ATTEMPTS = 8;
  const FIRST_DELAY_MS = 500;
  const MAX_DELAY_MS = 4000;
  // Each wait is stretched or shrunk by up to a tenth, so that the shoppers one outage cut off
  // do not all come back at the same instant.
  const JITTER = 0.1;

  let orderShown = false;
  let clicksInFlight = 0;

  /* The attempt's key. */

  const storageName = "checkout-attempt:" + cartId;
  // Where the key is kept when the browser refuses sessionStorage (storage disabled): for as
  // long as the page, which still gives every click and retry on it the same key.
  let keyWithoutStorage = null;

  const attemptStore = {
    get() {
      try {
        return window.sessionStorage.getItem(storageName) || keyWithoutStorage;
      } catch {
        return keyWithoutStorage;
      }
    },
    set(key) {
      keyWithoutStorage = key;
      try {
        window.sessionStorage.setItem(storageName, key);
      } catch {
        // Kept in keyWithoutStorage only.
      }
    },
    remove() {
      keyWithoutStorage = null;
      try {
        window.sessionStorage.removeItem(storageName);
      } catch {
        // Nothing was stored.
      }
    },
  };

  function newKey() {
    // crypto.randomUUID exists only in secure contexts: https, and http on localhost or
    // 127.0.0.1. Served over plain http anywhere else, the key is made the same way (a random
    // version 4 uuid) from crypto.getRandomValues, which every context has.
    if (typeof crypto.randomUUID === "function") {
      return crypto.randomUUID();
    }
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC 9562 variant
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    return [
      hex.slice(0, 8),
      hex.slice(8, 12),
      hex.slice(12, 16),
      hex.slice(16, 20),
      hex.slice(20),
    ].join("-");
  }

  function attemptKey() {
    let key = attemptStore.get();
    if (!key) {
      key = newKey();
      attemptStore.set(key);
    }
    return key;
  }

  /* Waiting between requests. */

  function backoffDelay(failedAttempt) {
    const delay = Math.min(FIRST_DELAY_MS * 2 ** (failedAttempt - 1), MAX_DELAY_MS);
    return delay * (1 - JITTER + 2 * JITTER * Math.random());
  }

  // Retry-After in seconds (as the storefront sends it), or as an HTTP date.
  function retryAfterDelay(response) {
    const value = (response.headers.get("Retry-After") || "").trim();
    if (/^\d+$/.test(value)) {
      return Number(value) * 1000;
    }
    const when = Date.parse(value);
    return Number.isNaN(when) ? 0 : Math.max(0, when - Date.now());
  }

  function sleep(milliseconds) {
    return new Promise((resolve) => setTimeout(resolve, milliseconds));
  }

  /* What the shopper sees. */

  // Once an order is shown, a click still running (a double click's second loop) must not
  // cover "Order placed" with its own news; it ends showing the same order anyway.
  function showStatus(text) {
    if (!orderShown) {
      statusLine.textContent = text;
    }
  }

  const RETRY_MESSAGES = {
    network: (attempt) => `Connection lost — retrying (attempt ${attempt})…`,
    inFlight: () => "The order is still being placed — retrying…",
    server: () => "Something went wrong on our side — retrying…",
  };

  function money(amount, currencyCode) {
    // As the pages show money (page_context.money): "€25.00" for 2500 cents.
    return new Intl.NumberFormat("en", {
      style: "currency",
      currency: currencyCode.toUpperCase(),
    }).format(amount / 100);
  }

  function displayIdOf(order) {
    // Medusa's display_id if the order has one; else as the pages shorten the order id
    // (page_context.display_id): "order_3d60048ef8fd..." is "3D60048E".
    if (order.display_id !== undefined && order.display_id !== null) {
      return String(order.display_id);
    }
    return order.id.replace(/^order_/, "").slice(0, 8).toUpperCase();
  }

  function showOrder(order, echoedKey) {
    const displayId = displayIdOf(order);
    let confirmation = document.getElementById("order-confirmation");
    if (!confirmation) {
      confirmation = document.createElement("section");
      confirmation.id = "order-confirmation";
      confirmation.setAttribute("aria-labelledby", "order-confirmation-heading");
      statusLine.after(confirmation);
    }
    confirmation.dataset.orderId = order.id;
    confirmation.dataset.displayId = displayId;
    // The key the server says it answered for: proof, in the page, of which attempt this is.
    confirmation.dataset.idempotencyKey = echoedKey;

    const heading = document.createElement("h2");
    heading.id = "order-confirmation-heading";
    heading.tabIndex = -1;
    heading.textContent = `Order #${displayId} placed`;
    const total = document.createElement("p");
    total.textContent = `Total: ${money(order.total, order.currency_code)}`;
    const link = document.createElement("a");
    link.href = "/orders/" + encodeURIComponent(order.id);
    link.textContent = "See your order";
    const more = document.createElement("p");
    more.append(link);
    confirmation.replaceChildren(heading, total, more);

    statusLine.textContent = "Order placed";
    orderShown = true;
    // The order is placed: there is nothing left to click for.
    placeOrderButton.hidden = true;
    if (document.activeElement === placeOrderButton || document.activeElement === document.body) {
      heading.focus();
    }
    // Only now is the attempt over: until the shopper has seen the order, every click must
    // ask about the same attempt.
    attemptStore.remove();
  }

  function serverMessage(body, status) {
    // The storefront's errors carry Medusa's "message"; RFC 9457's "detail" says the same.
    if (body && typeof body.message === "string" && body.message) {
      return body.message;
    }
    if (body && typeof body.detail === "string" && body.detail) {
      return body.detail;
    }
    return `The order could not be placed (error ${status}).`;
  }

  /* Placing the order. */

  // One request: what came back, or why to try again.
  async function sendCompletion(key) {
    let response;
    try {
      response = await fetch(completeUrl, {
        method: "POST",
        headers: {
          "Idempotency-Key": key,
          "Content-Type": "application/json",
          Accept: "application/json",
        },
        body: "{}",
      });
    } catch {
      // No answer at all: the request may or may not have run. Sending it again with the same
      // key is safe either way.
      return { retry: "network", waitAtLeast: 0 };
    }
    // 409: another request with this key (the other click, or the request before a reload)
    // is still running. 5xx: the server failed, and kept nothing under the key, so a retry
    // resumes the completion from its last finished step.
    if (response.status === 409) {
      return { retry: "inFlight", waitAtLeast: retryAfterDelay(response) };
    }
    if (response.status >= 500) {
      return { retry: "server", waitAtLeast: retryAfterDelay(response) };
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      if (response.ok) {
        // The answer broke off on its way: as good as none.
        return { retry: "network", waitAtLeast: 0 };
      }
    }
    return { response, body, echoedKey: response.headers.get("Idempotency-Key") || key };
  }

  function showAnswer({ response, body, echoedKey }) {
    if (response.ok && body && body.type === "order" && body.data) {
      showOrder(body.data, echoedKey);
      return;
    }
    if (orderShown) {
      return;
    }
    // Any other final answer ends this attempt: the server keeps it under the key, so
    // sending the key again would only repeat it. The next click starts a new attempt, with
    // a new key (a cart completed meanwhile still answers with its one order).
    attemptStore.remove();
    if (response.ok && body && body.type === "cart") {
      // Medusa's answer when the payment was not authorized: no order was made.
      showStatus("Your payment could not be completed, so the order was not placed.");
    } else if (response.ok) {
      showStatus("The shop answered in a way this page does not understand.");
    } else {
      showStatus(serverMessage(body, response.status));
    }
  }

  async function placeOrder() {
    // Read at each click: a click after a reload, or during another click, finds the key
    // already there and asks about the same attempt.
    const key = attemptKey();
    showStatus("Placing your order…");
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await sendCompletion(key);
      if (!outcome.retry) {
        showAnswer(outcome);
        return;
      }
      if (attempt >= MAX_ATTEMPTS) {
        // The key stays: the next click asks about this same attempt, which may well have
        // placed the order already.
        showStatus(
          "We could not confirm your order. Please try again in a moment: " +
            "pressing Place order again will not place it twice.",
        );
        return;
      }
      showStatus(RETRY_MESSAGES[outcome.retry](attempt + 1));
      await sleep(Math.max(backoffDelay(attempt), outcome.waitAtLeast));
      if (orderShown) {
        return;
      }
    }
  }

  placeOrderButton.addEventListener("click", () => {
    clicksInFlight += 1;
    placeOrderButton.setAttribute("aria-busy", "true");
    placeOrder()
      .catch(() => showStatus("Something went wrong on this page. Please try again."))
      .finally(() => {
        clicksInFlight -= 1;
        if (clicksInFlight === 0) {
          placeOrderButton.removeAttribute("aria-busy");
        }
      });
  });
})();
