"""One cart completed at the same moment: under different keys in threads, and under one key
across gunicorn worker processes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import headers
from tests.reliability.shop_client import Shop, the_one_original
from tests.served import Reply
from tests.storefront.conftest import (
    HOODIE_L,
    MUG,
    TSHIRT_M,
    assert_order_adds_up,
    audit,
    completed,
    new_cart,
)

pytestmark = pytest.mark.concurrency


def test_a_double_click_that_made_two_keys_still_gives_one_payment_and_one_order(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 1), (HOODIE_L, 1))
    clicks = 6
    start = threading.Barrier(clicks)

    def click(number: int) -> Any:
        start.wait(timeout=10)
        return app.test_client().post(
            f"/store/carts/{cart_id}/complete",
            headers=headers(f"click-{number}", **{"X-Storefront-Delay": "0.2"}),
        )

    with ThreadPoolExecutor(clicks) as pool:
        responses = list(pool.map(click, range(clicks)))

    assert [response.status_code for response in responses] == [200] * clicks
    assert len({response.json["data"]["id"] for response in responses}) == 1
    assert audit(client, cart_id) == completed(lines=2)
    assert_order_adds_up(app, cart_id)


def test_duplicate_completions_under_gunicorn_make_one_order_and_the_rest_replay(
    storefront_server: int,
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart((MUG, 2))
    duplicates = 16
    start = threading.Barrier(duplicates)

    def complete(_: int) -> Reply:
        start.wait(timeout=10)
        return shop.complete(cart_id, "checkout-1", **{"X-Storefront-Delay": "1"})

    with ThreadPoolExecutor(duplicates) as pool:
        results = list(pool.map(complete, range(duplicates)))

    # One completion runs; each duplicate collided with it (409) or came after it (a replay),
    # as the machine happened to schedule them (on SQLite a duplicate may also wait at its
    # claim for the single writer, then replay).
    order = the_one_original(results).body
    # Every client that got 409 retries and gets the one order.
    for _ in range(duplicates - 1):
        reply = shop.complete(cart_id, "checkout-1")
        assert (reply.status, reply.headers["Idempotent-Replayed"], reply.body) == (
            200,
            "true",
            order,
        )
    assert shop.audit(cart_id) == completed(lines=1)
