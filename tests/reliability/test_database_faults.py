"""The database fails mid-request, under gunicorn: a connection killed by the server, and an
outage (every connection dropped, new ones refused) through a proxy this test runs. Clients
get 503 problem+json, never a traceback; the key stays retryable; once the database is back a
retry completes the work exactly once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import SERVER_KINDS
from tests.reliability.conftest import Figures, ServeStorefront, add_figures
from tests.reliability.shop_client import (
    Shop,
    duplicated_effects,
    locks_left,
    stored_key_count,
)
from tests.reliability.tcp_proxy import TcpProxy
from tests.served import Reply, serve
from tests.storefront.conftest import HOODIE_L, MUG, TSHIRT_M
from tests.test_database_trouble import kill_connections

LOCK_TIMEOUT = 2
# The completion sleeps this long inside its payment stage, holding its connection: the time
# the test has to break the database under it, even on a loaded machine.
SLOW_STAGE = "3"
# Far beyond what any step takes on a loaded machine; it only bounds a test failing anyway.
PATIENCE = 60
pytestmark = pytest.mark.parametrize("database_kind", SERVER_KINDS)


def tax_lines_committed(shop: Shop, cart_id: str, expected: int) -> None:
    """Wait until the completion's first stage committed ``expected`` tax lines: one per line
    item and one for the shipping."""
    deadline = time.monotonic() + PATIENCE
    while shop.call("GET", f"/admin/carts/{cart_id}/audit").json()["tax_lines"] != expected:
        assert time.monotonic() < deadline, "the completion never reached payment_authorized"
        time.sleep(0.02)


def retry_until_done(shop: Shop, cart_id: str, key: str) -> Reply:
    deadline = time.monotonic() + PATIENCE
    while True:
        reply = shop.complete(cart_id, key)
        if reply.status not in (409, 503) or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def assert_service_unavailable(reply: Reply) -> None:
    assert reply.status == 503, reply
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert b"Traceback" not in reply.body


def test_a_connection_killed_mid_request(
    storefront: Flask,
    serve_storefront: ServeStorefront,
    database_kind: str,
    database_url: str,
    figures: Figures,
) -> None:
    with serve_storefront(IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT) as server:
        shop = Shop(server.port)
        cart_id = shop.new_cart((TSHIRT_M, 1), (MUG, 1))
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(
                shop.complete, cart_id, "killed", **{"X-Storefront-Delay": SLOW_STAGE}
            )
            tax_lines_committed(shop, cart_id, 3)
            assert kill_connections(database_kind, sa.make_url(database_url).database or "") >= 1
            failed = slow.result()
        assert_service_unavailable(failed)

        done = retry_until_done(shop, cart_id, "killed")
        assert done.status == 200 and not done.replayed, done

    effects = duplicated_effects(storefront, [cart_id])
    assert (effects, locks_left(storefront)) == (0, 0)
    add_figures(figures, requests=8, duplicated_effects=effects)


def test_an_outage_mid_request_and_requests_during_it(
    storefront: Flask, database_url: str, tmp_path: Path, figures: Figures
) -> None:
    url = sa.make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 0) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        with serve(
            "example_app:create_app()",
            tmp_path,
            FLASK_SQLALCHEMY_DATABASE_URI=through_proxy.render_as_string(hide_password=False),
            FLASK_STOREFRONT_FAULTS="true",
            FLASK_IDEMPOTENCY_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
        ) as server:
            shop = Shop(server.port)
            cart_id = shop.new_cart((HOODIE_L, 2))
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(
                    shop.complete, cart_id, "outage", **{"X-Storefront-Delay": SLOW_STAGE}
                )
                tax_lines_committed(shop, cart_id, 2)
                keys_before = stored_key_count(storefront)
                proxy.cut()
                during = shop.complete(cart_id, "during-outage")
                failed = slow.result()
            assert_service_unavailable(during)
            assert_service_unavailable(failed)
            # Checked on a direct connection: the request refused during the outage left no key.
            assert stored_key_count(storefront) == keys_before

            proxy.restore()
            done = retry_until_done(shop, cart_id, "outage")
            assert done.status == 200 and not done.replayed, done
            replay = shop.complete(cart_id, "outage")
            assert replay.replayed and replay.body == done.body

    effects = duplicated_effects(storefront, [cart_id])
    assert (effects, locks_left(storefront)) == (0, 0)
    add_figures(figures, requests=9, duplicated_effects=effects)
