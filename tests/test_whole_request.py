"""A key belongs to one whole request: the host it was sent to (with its subdomain), the script
root of a mounted app, the path and the query. Reused anywhere else it is a 422, never another
tenant's stored answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from flask_idempotency import idempotent
from tests.helpers import headers, stored_keys

ORDER = {"sku": "tee"}


@pytest.fixture
def shops(make_app: Callable[..., Flask]) -> tuple[Flask, Counter[str]]:
    """Several shops on subdomains of example.test, as a multi-tenant app serves them."""
    app = make_app(SERVER_NAME="example.test")
    app.subdomain_matching = True
    runs: Counter[str] = Counter()

    @app.post("/orders", subdomain="<shop>")
    @idempotent
    def place_shop_order(shop: str) -> Any:
        runs[shop] += 1
        return {"id": runs.total(), "shop": shop}, 201

    return app, runs


def order(app: Flask, base_url: str, key: str = "abc") -> Any:
    return app.test_client().post("/orders", json=ORDER, headers=headers(key), base_url=base_url)


def test_a_key_reused_on_another_shops_subdomain_is_a_422_and_never_its_answer(
    shops: tuple[Flask, Counter[str]],
) -> None:
    app, runs = shops

    oslo = order(app, "http://oslo.example.test")
    bergen = order(app, "http://bergen.example.test")

    assert (oslo.status_code, oslo.json) == (201, {"id": 1, "shop": "oslo"})
    assert bergen.status_code == 422
    assert "Idempotent-Replayed" not in bergen.headers
    assert runs == Counter(oslo=1)


def test_the_host_compares_without_case_and_without_the_default_port(
    shops: tuple[Flask, Counter[str]],
) -> None:
    app, runs = shops

    first = order(app, "http://oslo.example.test")
    shouting = order(app, "http://OSLO.Example.TEST")
    with_port = order(app, "http://oslo.example.test:80")

    for retry in (shouting, with_port):
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.data == first.data
    assert runs == Counter(oslo=1)
    [key] = stored_keys(app)
    assert key.request_host == "oslo.example.test"


@pytest.mark.parametrize(
    ("first_url", "retry_url", "same"),
    [
        ("http://localhost", "http://localhost:80", True),
        ("https://localhost", "https://localhost:443", True),
        ("http://localhost", "http://localhost:8080", False),
        ("https://localhost", "https://localhost:80", False),
        ("http://shop-a.test", "http://shop-b.test", False),
        ("http://[::1]:80", "http://[::1]", True),
    ],
)
def test_a_port_other_than_the_schemes_default_is_another_host(
    app: Flask, first_url: str, retry_url: str, same: bool
) -> None:
    client = app.test_client()
    body = {"amount": 5}
    first = client.post("/charges", json=body, headers=headers("p"), base_url=first_url)
    retry = client.post("/charges", json=body, headers=headers("p"), base_url=retry_url)

    assert first.status_code == 201
    if same:
        assert retry.headers["Idempotent-Replayed"] == "true"
    else:
        assert retry.status_code == 422


def test_an_app_mounted_under_two_prefixes_keeps_their_keys_apart(app: Flask) -> None:
    """werkzeug's DispatcherMiddleware sets SCRIPT_NAME: /eu/charges and /us/charges are two
    endpoints of one app, and the key records the full path."""
    mounted = DispatcherMiddleware(app.wsgi_app, {"/eu": app.wsgi_app, "/us": app.wsgi_app})
    client = Client(mounted)
    body = {"amount": 5}

    europe = client.post("/eu/charges", json=body, headers=headers("m"))
    america = client.post("/us/charges", json=body, headers=headers("m"))
    europe_again = client.post("/eu/charges", json=body, headers=headers("m"))

    assert (europe.status_code, america.status_code) == (201, 422)
    assert europe_again.headers["Idempotent-Replayed"] == "true"
    [key] = stored_keys(app)
    assert (key.request_host, key.request_path) == ("localhost", "/eu/charges")


def test_the_query_is_part_of_the_request(app: Flask) -> None:
    @app.post("/quotes")
    @idempotent
    def quote() -> Any:
        return {"currency": request.args.get("currency")}

    client = app.test_client()
    first = client.post("/quotes?currency=eur", json={}, headers=headers("q"))
    other = client.post("/quotes?currency=usd", json={}, headers=headers("q"))

    assert (first.status_code, other.status_code) == (200, 422)
