"""Completing a cart: ``POST /store/carts/<id>/complete`` in stages, answering Medusa's
``{"type": "order", "data": order}``; a fault in each stage and a resume; and what a cart
answers to changes while it is being completed and once it is."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_app import completion
from example_app.money import tax_for
from example_app.store.lookups import cart_or_404
from flask_idempotency import idempotent
from tests.helpers import headers
from tests.storefront.conftest import (
    EUROPE_EXPRESS,
    EUROPE_STANDARD,
    EUROPE_STANDARD_PRICE,
    EUROPE_TAX,
    HOODIE_L,
    MUG,
    TSHIRT_M,
    assert_order_adds_up,
    audit,
    cart_of,
    completed,
    new_cart,
    seeded_storefront,
)


def complete(client: FlaskClient, cart_id: str, key: str | None = None, **extra: str) -> Any:
    return client.post(f"/store/carts/{cart_id}/complete", headers=headers(key, **extra))


def test_a_whole_checkout_gives_one_order_with_shipping_in_its_totals(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 2), (MUG, 1))
    client.post(f"/store/carts/{cart_id}", json={"email": "ada@example.com"})
    client.post(f"/store/carts/{cart_id}/shipping-methods", json={"option_id": EUROPE_EXPRESS})
    client.post(f"/store/carts/{cart_id}/payment-sessions")
    client.post(f"/store/carts/{cart_id}/payment-session", json={"provider_id": "manual"})
    before = cart_of(client, cart_id)

    response = complete(client, cart_id, "checkout")

    assert response.status_code == 200
    assert response.json["type"] == "order"
    order = response.json["data"]
    assert order["id"].startswith("order_")
    assert (order["cart_id"], order["email"], order["currency_code"]) == (
        cart_id,
        "ada@example.com",
        "eur",
    )
    assert (order["status"], order["payment_status"], order["tax_rate"]) == (
        "pending",
        "awaiting",
        20,
    )
    expected_tax = tax_for(5000, EUROPE_TAX) + tax_for(1200, EUROPE_TAX) + tax_for(1500, 2000)
    assert (order["subtotal"], order["shipping_total"], order["tax_total"]) == (
        6200,
        1500,
        expected_tax,
    )
    assert order["total"] == 6200 + 1500 + expected_tax == before["total"]
    [payment] = order["payments"]
    assert payment["id"].startswith("pay_")
    assert (payment["amount"], payment["provider_id"]) == (order["total"], "manual")
    tax_lines = [line for item in order["items"] for line in item["tax_lines"]]
    tax_lines += [line for method in order["shipping_methods"] for line in method["tax_lines"]]
    assert [line["rate"] for line in tax_lines] == [20, 20, 20]
    assert {line["id"][:5] for line in tax_lines} == {"litl_", "smtl_"}
    assert order["tax_total"] == sum(item["tax_total"] for item in order["items"]) + sum(
        method["tax_total"] for method in order["shipping_methods"]
    )
    assert_order_adds_up(app, cart_id)

    assert client.get(f"/store/orders/{order['id']}").json == {"order": order}
    assert client.get(f"/store/orders/cart/{cart_id}").json == {"order": order}
    cart = cart_of(client, cart_id)
    assert cart["completed_at"] is not None and cart["payment_authorized_at"] is not None
    assert cart["payment_session"]["status"] == "authorized"
    assert audit(client, cart_id) == completed(lines=2)


def test_a_cart_completed_straight_from_its_line_items_ships_and_pays_by_default(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client, (HOODIE_L, 1))

    order = complete(client, cart_id).json["data"]

    [method] = order["shipping_methods"]
    assert (method["shipping_option_id"], method["price"]) == (
        EUROPE_STANDARD,
        EUROPE_STANDARD_PRICE,
    )
    assert order["shipping_total"] == EUROPE_STANDARD_PRICE
    assert order["payments"][0]["provider_id"] == "manual"
    assert order["total"] == 5500 + 800 + tax_for(5500, EUROPE_TAX) + tax_for(800, EUROPE_TAX)
    assert_order_adds_up(app, cart_id)


def test_completing_a_cart_creates_one_order_and_a_retry_replays_it(client: FlaskClient) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 1), (MUG, 3))

    first = complete(client, cart_id, "place-order")
    retry = complete(client, cart_id, "place-order")

    assert first.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert audit(client, cart_id) == completed(lines=2)


def test_a_completed_cart_completed_again_under_a_new_key_returns_its_order(
    client: FlaskClient,
) -> None:
    cart_id = new_cart(client, (HOODIE_L, 1))
    first = complete(client, cart_id, "k1")

    again = complete(client, cart_id, "k2")

    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["data"]["id"] == first.json["data"]["id"]
    assert audit(client, cart_id) == completed(lines=1)


def test_completing_an_empty_cart_is_400_stored_and_replayed(client: FlaskClient) -> None:
    cart_id = new_cart(client)

    first = complete(client, cart_id, "empty")
    retry = complete(client, cart_id, "empty")

    assert first.status_code == retry.status_code == 400
    assert first.mimetype == "application/problem+json"
    assert first.json["medusa_type"] == "invalid_data"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data


def test_completing_an_unknown_cart_is_404(client: FlaskClient) -> None:
    response = complete(client, "cart_missing", "nope")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# What each failed stage leaves committed: the stages before it.
COMMITTED_BEFORE = {
    "tax_lines_created": {"shipping_methods": 0, "tax_lines": 0, "payments": 0, "orders": 0},
    "payment_authorized": {"shipping_methods": 1, "tax_lines": 3, "payments": 0, "orders": 0},
    "finished": {"shipping_methods": 1, "tax_lines": 3, "payments": 1, "orders": 0},
}


@pytest.mark.parametrize("stage", list(COMMITTED_BEFORE))
@pytest.mark.parametrize("resumed_by", ["the same key", "another key"])
def test_a_fault_in_a_stage_then_a_retry_completes_once(
    app: Flask, client: FlaskClient, stage: str, resumed_by: str
) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 2), (MUG, 1))

    failed = complete(client, cart_id, "faulty", **{"X-Storefront-Fault": stage})
    assert failed.status_code == 500
    assert failed.headers["Idempotency-Key"] == "faulty"
    assert audit(client, cart_id) == {"line_items": 2, **COMMITTED_BEFORE[stage]}

    key = "faulty" if resumed_by == "the same key" else "second-try"
    resumed = complete(client, cart_id, key)
    assert resumed.status_code == 200, resumed.json
    assert resumed.json["type"] == "order"
    # Tax lines not duplicated, one authorization, one order.
    assert audit(client, cart_id) == completed(lines=2)
    assert_order_adds_up(app, cart_id)
    assert complete(client, cart_id, key).data == resumed.data


def test_fault_headers_do_nothing_unless_faults_are_enabled(database_url: str) -> None:
    with seeded_storefront(database_url, STOREFRONT_FAULTS=False) as app:
        client = app.test_client()
        cart_id = new_cart(client, (MUG, 1))
        response = complete(client, cart_id, "k", **{"X-Storefront-Fault": "payment_authorized"})
        assert response.status_code == 200
        assert audit(client, cart_id)["orders"] == 1


def changes_to(client: FlaskClient, cart_id: str) -> dict[str, tuple[str, str, object]]:
    """One request of each kind that changes the cart: (method, path, body)."""
    line_id = cart_of(client, cart_id)["items"][0]["id"]
    carts = f"/store/carts/{cart_id}"
    return {
        "add": ("POST", f"{carts}/line-items", {"variant_id": HOODIE_L, "quantity": 1}),
        "update": ("POST", f"{carts}/line-items/{line_id}", {"quantity": 7}),
        "delete": ("DELETE", f"{carts}/line-items/{line_id}", None),
        "email": ("POST", carts, {"email": "late@example.com"}),
        "shipping": ("POST", f"{carts}/shipping-methods", {"option_id": EUROPE_EXPRESS}),
        "payment-sessions": ("POST", f"{carts}/payment-sessions", None),
        "payment-session": ("POST", f"{carts}/payment-session", {"provider_id": "manual"}),
    }


def send(client: FlaskClient, change: tuple[str, str, object], key: str) -> Any:
    method, path, body = change
    return client.open(path, method=method, json=body, headers=headers(key))


def test_a_cart_being_completed_refuses_changes_with_409_that_are_not_stored(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 1), (MUG, 2))
    changes = changes_to(client, cart_id)
    # The first stage committed, the second failed: the completion has started, not finished.
    failed = complete(client, cart_id, "checkout", **{"X-Storefront-Fault": "payment_authorized"})
    assert failed.status_code == 500
    before = cart_of(client, cart_id)

    for name, change in changes.items():
        refused = send(client, change, f"{name}-key")
        assert refused.status_code == 409, (name, refused.json)
        assert refused.mimetype == "application/problem+json"
        assert refused.json["medusa_type"] == "conflict"
        assert refused.json["code"] == "invalid_state_error"
        assert "being completed" in refused.json["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        # Not stored: the same key runs again, and is refused again.
        again = send(client, change, f"{name}-key")
        assert (again.status_code, "Idempotent-Replayed" in again.headers) == (409, False), name
    assert cart_of(client, cart_id) == before

    assert complete(client, cart_id, "checkout").status_code == 200
    for name, change in changes.items():
        # The retry after the completion gets the completed cart's answer, not a 409.
        late = send(client, change, f"{name}-key")
        assert late.status_code == 400, (name, late.json)
        assert "Idempotent-Replayed" not in late.headers
        assert late.json["medusa_type"] == "not_allowed"
        assert late.json["code"] == "cart_incompatible_state"
    assert audit(client, cart_id) == completed(lines=2)
    assert_order_adds_up(app, cart_id)


def test_a_completed_cart_refuses_changes_with_400_stored_like_any_answer(
    client: FlaskClient,
) -> None:
    cart_id = new_cart(client, (MUG, 1))
    changes = changes_to(client, cart_id)
    assert complete(client, cart_id).status_code == 200

    for name, change in changes.items():
        refused = send(client, change, f"{name}-late")
        replay = send(client, change, f"{name}-late")
        assert refused.status_code == 400, (name, refused.json)
        assert refused.json["message"].endswith("is completed and takes no more changes.")
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.data == refused.data
    assert audit(client, cart_id) == completed(lines=1)


def test_a_cart_emptied_before_the_first_stage_took_its_lock_is_refused_and_stays_open(
    app: Flask, client: FlaskClient
) -> None:
    cart_id = new_cart(client)

    # The view's own look at the cart found line items, but a delete that committed before
    # the first stage took the cart's lock emptied it: the stage looks again.
    def complete_without_looking(cart_id: str) -> Any:
        return completion.complete(cart_or_404(cart_id))

    app.view_functions["store.complete_cart"] = idempotent(complete_without_looking)
    first = complete(client, cart_id, "emptied")
    retry = complete(client, cart_id, "emptied")

    assert first.status_code == 400, first.json
    assert "no line items" in first.json["message"]
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.data == first.data
    assert audit(client, cart_id) == {
        "line_items": 0,
        "shipping_methods": 0,
        "tax_lines": 0,
        "payments": 0,
        "orders": 0,
    }
    added = client.post(
        f"/store/carts/{cart_id}/line-items", json={"variant_id": MUG, "quantity": 1}
    )
    assert added.status_code == 200
