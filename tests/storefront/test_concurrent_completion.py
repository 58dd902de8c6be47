"""One cart completed at the same moment: under different keys in threads, and under one key
across gunicorn worker processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import headers
from tests.reliability.shop_client import Reply, Shop, the_one_original
from tests.served import serve
from tests.storefront.conftest import audit, new_cart

pytestmark = pytest.mark.concurrency


def test_a_double_click_that_made_two_keys_still_gives_one_payment_and_one_order(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client, ("prod_tshirt", 1), ("prod_hoodie", 1))
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
    assert len({response.json["data"]["id"] for response in responses}) == 1  # type: ignore[index]
    assert audit(client, cart_id) == {"orders": 1, "payment_authorizations": 1, "tax_lines": 2}


@pytest.fixture
def storefront_server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[int]:
    with serve(
        "example_app:create_app()",
        tmp_path,
        FLASK_SQLALCHEMY_DATABASE_URI=database_url,
        FLASK_STOREFRONT_FAULTS="true",
    ) as served:
        yield served.port


def test_duplicate_completions_under_gunicorn_make_one_order_and_the_rest_replay(
    storefront_server: int,
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart(("prod_mug", 2))
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
    counts = shop.call("GET", f"/admin/carts/{cart_id}/audit").json()
    assert counts == {"orders": 1, "payment_authorizations": 1, "tax_lines": 1}
