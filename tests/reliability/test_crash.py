"""A worker SIGKILLed inside a stage: its lock holds until the lock timeout, then a retry
resumes from the last recovery point, and nothing happens twice."""

from __future__ import annotations

import http.client
import signal
import time
from collections.abc import Callable

import psutil
from flask import Flask

from tests.reliability.conftest import Figures, ServeStorefront, add_figures, scaled
from tests.reliability.shop_client import Shop, duplicated_effects, locks_left
from tests.served import Reply, Server
from tests.storefront.conftest import MUG, TSHIRT_M

LOCK_TIMEOUT = 3


def worker_serving(server: Server, client_port: int, deadline: float) -> psutil.Process:
    """The gunicorn worker holding the connection that comes from ``client_port``."""
    master = psutil.Process(server.process.pid)
    while time.monotonic() < deadline:
        for worker in master.children():
            try:
                connections = worker.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.raddr and c.raddr.port == client_port for c in connections):
                return worker
        time.sleep(0.01)
    raise AssertionError("no worker took the request")


def send_without_waiting(port: int, cart_id: str, key: str) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        f"/store/carts/{cart_id}/complete",
        headers={"Idempotency-Key": key, "X-Storefront-Delay": "30"},
    )
    return connection


# How long a poll goes on before the test gives up: far beyond what any step takes on a
# loaded machine, so that it only bounds a test that is failing anyway.
PATIENCE = 60


def poll(attempt: Callable[[], Reply], until: Callable[[Reply], bool], what: str) -> Reply:
    deadline = time.monotonic() + PATIENCE
    while True:
        reply = attempt()
        if until(reply):
            return reply
        assert time.monotonic() < deadline, f"gave up waiting until {what}: {reply}"
        time.sleep(0.1)


def kill_inside_payment(server: Server, shop: Shop, cart_id: str, key: str) -> None:
    """Send a completion that is held inside payment_authorized, and SIGKILL the worker serving
    it once its tax lines (two items and the shipping) have committed; the answer is lost."""
    connection = send_without_waiting(server.port, cart_id, key)
    client_port = connection.sock.getsockname()[1]
    worker = worker_serving(server, client_port, time.monotonic() + PATIENCE)
    poll(
        lambda: shop.call("GET", f"/admin/carts/{cart_id}/audit"),
        lambda reply: reply.json()["tax_lines"] == 3,
        "the tax lines stage committed",
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=PATIENCE)
    connection.close()


def crash_and_recover(server: Server, shop: Shop, cart_id: str, key: str) -> None:
    # The key's lock is taken, and renewed, after this: it can be no older than the time since.
    sent_at = time.monotonic()
    kill_inside_payment(server, shop, cart_id, key)

    early = shop.complete(cart_id, key)
    if time.monotonic() - sent_at < LOCK_TIMEOUT:
        # The dead worker's lock was younger than the lock timeout all along: it still holds.
        # (On a machine so loaded that the timeout has passed, a retry may rightly resume now.)
        assert early.status == 409, early
        assert b"request-in-flight" in early.body, early
    resumed = (
        early
        if early.status != 409
        else poll(lambda: shop.complete(cart_id, key), lambda r: r.status != 409, "a resume")
    )
    assert resumed.status == 200 and not resumed.replayed, resumed
    assert shop.complete(cart_id, key).body == resumed.body


def test_a_worker_killed_inside_a_stage_is_recovered_after_the_lock_timeout(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    crashes = scaled(2, 10)
    with serve_storefront(IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT) as server:
        shop = Shop(server.port)
        cart_ids = [shop.new_cart((TSHIRT_M, 1), (MUG, 1)) for _ in range(crashes)]
        for number, cart_id in enumerate(cart_ids):
            crash_and_recover(server, shop, cart_id, f"crash-{number}")

    effects = duplicated_effects(storefront, cart_ids)
    assert effects == 0
    assert locks_left(storefront) == 0
    add_figures(
        figures, requests=crashes * 7, duplicated_effects=effects, killed_workers_recovered=crashes
    )


# medusa-js's maxRetries, as Medusa's storefronts set it.
MEDUSA_JS_MAX_RETRIES = 4


def medusa_js_pause(attempt: int, previous: Reply | None) -> float:
    """Seconds medusa-js (retry-axios) waits before its ``attempt``-th retry: the last answer's
    Retry-After when it has one, else 0.5, 1.5, 3.5, 7.5 s."""
    if previous is not None and "Retry-After" in previous.headers:
        return float(previous.headers["Retry-After"])
    return (2.0**attempt - 1) / 2


def test_a_client_retrying_as_medusa_js_does_recovers_a_killed_workers_key(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    # The storefront's own lock timeout, not one set for the test.
    with serve_storefront() as server:
        shop = Shop(server.port)
        cart_id = shop.new_cart((TSHIRT_M, 1), (MUG, 1))
        kill_inside_payment(server, shop, cart_id, "medusa-js")

        # No answer: medusa-js retries with the same key, and again on each 409, pausing as
        # it does (each 409 in flight says Retry-After: 1). The pauses are the client's
        # schedule, the thing under test, not a wait for the server.
        replies: list[Reply] = []
        for attempt in range(1, MEDUSA_JS_MAX_RETRIES + 1):
            time.sleep(medusa_js_pause(attempt, replies[-1] if replies else None))
            replies.append(shop.complete(cart_id, "medusa-js"))
            if replies[-1].status != 409:
                break

    assert replies[-1].status == 200 and not replies[-1].replayed, replies
    assert all(reply.status == 409 for reply in replies[:-1]), replies
    assert duplicated_effects(storefront, [cart_id]) == 0
    assert locks_left(storefront) == 0
    add_figures(figures, requests=len(replies) + 4, killed_workers_recovered=1)
