"""One cart completed at the same moment: under different keys in threads, and under one key
across gunicorn worker processes."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import headers
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


def call(port: int, method: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        body = None
        if method == "POST" and "line-items" in path:
            body = json.dumps({"product_id": "prod_mug", "quantity": 2})
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_duplicate_completions_under_gunicorn_make_one_order_and_the_rest_replay(
    storefront_server: int, database_kind: str
) -> None:
    port = storefront_server
    _, _, body = call(port, "POST", "/store/carts")
    cart_id = json.loads(body)["cart"]["id"]
    assert call(port, "POST", f"/store/carts/{cart_id}/line-items")[0] == 200
    duplicates = 16
    start = threading.Barrier(duplicates)

    def complete(_: int) -> tuple[int, dict[str, str], bytes]:
        start.wait(timeout=10)
        return call(
            port,
            "POST",
            f"/store/carts/{cart_id}/complete",
            **{"Idempotency-Key": "checkout-1", "X-Storefront-Delay": "1"},
        )

    with ThreadPoolExecutor(duplicates) as pool:
        results = list(pool.map(complete, range(duplicates)))

    outcomes = Counter(
        "replayed" if response_headers.get("Idempotent-Replayed") else status
        for status, response_headers, _ in results
    )
    if database_kind == "sqlite":
        # SQLite has one writer: the first completion holds the write lock while it sleeps,
        # so duplicates wait for it at their claim and then replay, or answer 409.
        assert outcomes[200] == 1 and set(outcomes) <= {200, 409, "replayed"}, outcomes
    else:
        assert outcomes == {200: 1, 409: duplicates - 1}, outcomes
    [order] = [
        body
        for status, response_headers, body in results
        if status == 200 and "Idempotent-Replayed" not in response_headers
    ]
    for status, response_headers, _ in results:
        if status == 409:
            assert response_headers["Content-Type"] == "application/problem+json"
            assert "Retry-After" in response_headers
    # Every client that got 409 retries and gets the one order.
    for _ in range(duplicates - 1):
        status, response_headers, body = call(
            port, "POST", f"/store/carts/{cart_id}/complete", **{"Idempotency-Key": "checkout-1"}
        )
        assert (status, response_headers["Idempotent-Replayed"], body) == (200, "true", order)
    _, _, counts = call(port, "GET", f"/admin/carts/{cart_id}/audit")
    assert json.loads(counts) == {"orders": 1, "payment_authorizations": 1, "tax_lines": 1}
