// An HTTP proxy between Medusa's client and the storefront that can, for one chosen request,
// lose the answer on its way back or add a header on its way in, and that logs every request
// with the Idempotency-Key it carried and the status the storefront gave it.
//
// A lost answer is the case idempotency keys exist for: the storefront did the work, the
// client never heard, and the client's retry must get the same result rather than a second
// order. Only a proxy can lose an answer the storefront really sent, so this is one.

import http from "node:http";

// Headers that describe one connection, not the request; never forwarded.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);

function endToEndHeaders(headers) {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
  );
}

function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

export class FaultyProxy {
  constructor(target) {
    this.target = new URL(target);
    // Every request seen, in order: {method, path, key, fate, status, body}.
    this.log = [];
    this.rules = [];
    // Sockets of the storefront's answers still being read after the client was cut off.
    this.pending = new Set();
    this.server = http.createServer((request, response) => {
      this.#handle(request, response).catch((error) => {
        response.destroy(error);
      });
    });
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  async close() {
    await Promise.allSettled([...this.pending]);
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  // The next request that `matches` (method, path) gets `fault`, once:
  //   {loseAnswer: "after-reply"}  the storefront answers in full, the client's connection is
  //                                 then closed without a byte of it;
  //   {loseAnswer: "at-once"}      the client's connection is closed as soon as the request is
  //                                 forwarded, while the storefront is still working on it;
  //   {addHeaders: {...}}          the request reaches the storefront with these headers added.
  once(matches, fault) {
    this.rules.push({ matches, fault });
  }

  // The logged requests to `path` with `method`.
  requestsTo(method, path) {
    return this.log.filter((entry) => entry.method === method && entry.path === path);
  }

  #takeRule(method, path) {
    const index = this.rules.findIndex((rule) => rule.matches(method, path));
    if (index < 0) return {};
    const [rule] = this.rules.splice(index, 1);
    return rule.fault;
  }

  async #handle(request, response) {
    const body = await readAll(request);
    const path = request.url;
    const fault = this.#takeRule(request.method, path);
    const entry = {
      method: request.method,
      path,
      key: request.headers["idempotency-key"] ?? null,
      fate: fault.loseAnswer ? `answer lost (${fault.loseAnswer})` : "relayed",
      status: null,
      replayed: false,
      body: null,
    };
    if (fault.addHeaders) entry.fate = `relayed, with ${Object.keys(fault.addHeaders).join(", ")}`;
    this.log.push(entry);

    const { sent, answer } = this.#forward(request, body, fault.addHeaders ?? {});
    const logged = answer.then((upstream) => {
      entry.status = upstream.status;
      entry.replayed = upstream.headers["idempotent-replayed"] === "true";
      entry.body = upstream.body.toString("utf8");
      return upstream;
    }, (error) => {
      entry.fate = `storefront unreachable: ${error.message}`;
      throw error;
    });
    if (fault.loseAnswer === "at-once") {
      // The storefront keeps working on the request; its answer is read and logged, never sent.
      const settled = logged.catch(() => {});
      this.pending.add(settled);
      settled.finally(() => this.pending.delete(settled));
      await sent;
      request.socket.destroy();
      return;
    }
    const upstream = await logged;
    if (fault.loseAnswer === "after-reply") {
      request.socket.destroy();
      return;
    }
    response.writeHead(upstream.status, endToEndHeaders(upstream.headers));
    response.end(upstream.body);
  }

  // Sends the request on a connection of its own. `sent` resolves once the request is fully
  // written (or could not be); `answer` with the storefront's whole answer.
  #forward(request, body, addHeaders) {
    let markSent;
    const sent = new Promise((resolve) => {
      markSent = resolve;
    });
    const answer = new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: request.method,
          path: request.url,
          headers: {
            ...endToEndHeaders(request.headers),
            ...addHeaders,
            host: this.target.host,
            "content-length": String(body.length),
          },
          agent: false,
        },
        (reply) => {
          readAll(reply).then(
            (replyBody) => resolve({ status: reply.statusCode, headers: reply.headers, body: replyBody }),
            reject,
          );
        },
      );
      upstream.on("error", (error) => {
        markSent();
        reject(error);
      });
      upstream.on("finish", () => markSent());
      upstream.end(body);
    });
    return { sent, answer };
  }
}
