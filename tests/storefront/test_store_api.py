"""The storefront's HTTP API, as a client sees it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import headers
from tests.storefront.conftest import audit, new_cart, seeded_storefront


def test_products_are_listed(client: FlaskClient) -> None:
    products = client.get("/store/products").json["products"]  # type: ignore[index]

    assert {product["id"] for product in products} >= {"prod_tshirt", "prod_mug"}
    assert all({"id", "title", "price"} <= set(product) for product in products)


def test_a_cart_is_created_once_per_key(client: FlaskClient) -> None:
    first = client.post("/store/carts", headers=headers("new-cart"))
    retry = client.post("/store/carts", headers=headers("new-cart"))

    assert first.status_code == 200
    assert first.json["cart"]["items"] == [] and first.json["cart"]["total"] == 0  # type: ignore[index]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    cart_id = first.json["cart"]["id"]  # type: ignore[index]
    assert client.get(f"/store/carts/{cart_id}").json == first.json


def test_an_unknown_cart_is_404_problem(client: FlaskClient) -> None:
    response = client.get("/store/carts/cart_missing")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_line_items_are_added_and_merged(client: FlaskClient) -> None:
    cart_id = new_cart(client, ("prod_tshirt", 1), ("prod_mug", 2), ("prod_tshirt", 1))

    cart = client.get(f"/store/carts/{cart_id}").json["cart"]  # type: ignore[index]
    quantities = {item["product_id"]: item["quantity"] for item in cart["items"]}
    assert quantities == {"prod_tshirt": 2, "prod_mug": 2}
    assert cart["subtotal"] == 2 * 2500 + 2 * 1200
    assert cart["total"] == cart["subtotal"] + cart["tax_total"]


def test_adding_a_line_item_is_idempotent(client: FlaskClient) -> None:
    cart_id = new_cart(client)
    body = {"product_id": "prod_mug", "quantity": 1}
    path = f"/store/carts/{cart_id}/line-items"

    client.post(path, json=body, headers=headers("add-mug"))
    client.post(path, json=body, headers=headers("add-mug"))

    [item] = client.get(f"/store/carts/{cart_id}").json["cart"]["items"]  # type: ignore[index]
    assert item["quantity"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"product_id": "prod_missing", "quantity": 1}, 404),
        ({"product_id": "prod_mug", "quantity": 0}, 400),
        ({"product_id": "prod_mug", "quantity": -2}, 400),
        ({"product_id": "prod_mug", "quantity": 1.5}, 400),
        ({"product_id": "prod_mug", "quantity": "2"}, 400),
        ({"product_id": "prod_mug", "quantity": True}, 400),
        ({"product_id": "prod_mug"}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_line_items_are_refused_with_problems(
    client: FlaskClient, body: object, status: int
) -> None:
    cart_id = new_cart(client)

    response = client.post(f"/store/carts/{cart_id}/line-items", json=body)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert client.get(f"/store/carts/{cart_id}").json["cart"]["items"] == []  # type: ignore[index]


def test_a_line_item_for_an_unknown_cart_is_404(client: FlaskClient) -> None:
    response = client.post(
        "/store/carts/cart_missing/line-items", json={"product_id": "prod_mug", "quantity": 1}
    )
    assert response.status_code == 404


def test_completing_a_cart_creates_one_order_and_a_retry_replays_it(client: FlaskClient) -> None:
    cart_id = new_cart(client, ("prod_tshirt", 1), ("prod_mug", 3))

    first = client.post(f"/store/carts/{cart_id}/complete", headers=headers("place-order"))
    retry = client.post(f"/store/carts/{cart_id}/complete", headers=headers("place-order"))

    assert first.status_code == 200
    order = first.json
    assert order is not None and order["type"] == "order"
    assert order["data"]["cart_id"] == cart_id
    cart = client.get(f"/store/carts/{cart_id}").json["cart"]  # type: ignore[index]
    assert order["data"]["total"] == cart["total"] and cart["completed_at"] is not None
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert audit(client, cart_id) == {"orders": 1, "payment_authorizations": 1, "tax_lines": 2}


def test_a_completed_cart_completed_again_under_a_new_key_returns_its_order(
    client: FlaskClient,
) -> None:
    cart_id = new_cart(client, ("prod_hoodie", 1))
    first = client.post(f"/store/carts/{cart_id}/complete", headers=headers("k1"))

    again = client.post(f"/store/carts/{cart_id}/complete", headers=headers("k2"))

    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["data"]["id"] == first.json["data"]["id"]  # type: ignore[index]
    assert audit(client, cart_id) == {"orders": 1, "payment_authorizations": 1, "tax_lines": 1}


def test_completing_an_empty_cart_is_400_stored_and_replayed(client: FlaskClient) -> None:
    cart_id = new_cart(client)

    first = client.post(f"/store/carts/{cart_id}/complete", headers=headers("empty"))
    retry = client.post(f"/store/carts/{cart_id}/complete", headers=headers("empty"))

    assert first.status_code == retry.status_code == 400
    assert first.mimetype == "application/problem+json"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data


def test_completing_an_unknown_cart_is_404(client: FlaskClient) -> None:
    response = client.post("/store/carts/cart_missing/complete", headers=headers("nope"))

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("stage", ["tax_lines_created", "payment_authorized", "finished"])
def test_a_fault_in_a_stage_then_a_retry_completes_once(client: FlaskClient, stage: str) -> None:
    cart_id = new_cart(client, ("prod_tshirt", 2), ("prod_mug", 1))
    path = f"/store/carts/{cart_id}/complete"

    failed = client.post(path, headers=headers("faulty", **{"X-Storefront-Fault": stage}))
    assert failed.status_code == 500
    assert failed.headers["Idempotency-Key"] == "faulty"
    committed = {
        "tax_lines_created": {"orders": 0, "payment_authorizations": 0, "tax_lines": 0},
        "payment_authorized": {"orders": 0, "payment_authorizations": 0, "tax_lines": 2},
        "finished": {"orders": 0, "payment_authorizations": 1, "tax_lines": 2},
    }[stage]
    assert audit(client, cart_id) == committed

    resumed = client.post(path, headers=headers("faulty"))
    assert resumed.status_code == 200
    assert resumed.json["type"] == "order"  # type: ignore[index]
    assert audit(client, cart_id) == {"orders": 1, "payment_authorizations": 1, "tax_lines": 2}
    replay = client.post(path, headers=headers("faulty"))
    assert replay.data == resumed.data


def test_fault_headers_do_nothing_unless_faults_are_enabled(database_url: str) -> None:
    with seeded_storefront(database_url, STOREFRONT_FAULTS=False) as app:
        client = app.test_client()
        cart_id = new_cart(client, ("prod_mug", 1))
        response = client.post(
            f"/store/carts/{cart_id}/complete",
            headers=headers("k", **{"X-Storefront-Fault": "payment_authorized"}),
        )
        assert response.status_code == 200
        assert audit(client, cart_id)["orders"] == 1


def test_an_unknown_path_is_a_problem_too(client: FlaskClient) -> None:
    response = client.get("/store/nothing-here")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_audit_of_an_unknown_cart_is_404(client: FlaskClient, app: Flask) -> None:
    assert client.get("/admin/carts/cart_missing/audit").status_code == 404


def test_a_completed_cart_takes_no_more_line_items(client: FlaskClient) -> None:
    cart_id = new_cart(client, ("prod_mug", 1))
    client.post(f"/store/carts/{cart_id}/complete")

    response = client.post(
        f"/store/carts/{cart_id}/line-items", json={"product_id": "prod_mug", "quantity": 1}
    )

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
