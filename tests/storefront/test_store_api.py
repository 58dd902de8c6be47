"""The storefront's store API as a Medusa client sees it: Medusa's paths, request fields and
response shapes, ids with Medusa's prefixes, amounts in cents, tax rates as percentages."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from example_app.money import tax_for
from tests.helpers import headers
from tests.storefront.conftest import (
    EUROPE,
    EUROPE_EXPRESS,
    EUROPE_STANDARD,
    EUROPE_STANDARD_PRICE,
    EUROPE_TAX,
    HOODIE_L,
    MUG,
    NORTH_AMERICA,
    PRICES,
    TSHIRT_M,
    cart_of,
    new_cart,
)


def assert_problem(response: Any, status: int, medusa_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.json
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    assert body["status"] == status
    assert body["message"] == body["detail"] and body["message"]
    assert body["medusa_type"] == medusa_type
    return body


# --- Regions and products -----------------------------------------------------------------------


def test_regions_are_listed_with_their_currency_and_tax_rate_as_a_percentage(
    client: FlaskClient,
) -> None:
    listed = client.get("/store/regions").json

    assert listed is not None
    assert (listed["count"], listed["offset"], listed["limit"]) == (2, 0, 100)
    regions = {region["id"]: region for region in listed["regions"]}
    assert (regions[EUROPE]["currency_code"], regions[EUROPE]["tax_rate"]) == ("eur", 20)
    assert (regions[NORTH_AMERICA]["currency_code"], regions[NORTH_AMERICA]["tax_rate"]) == (
        "usd",
        8.25,
    )
    assert regions[EUROPE]["payment_providers"] == [{"id": "manual", "is_installed": True}]
    assert client.get(f"/store/regions/{EUROPE}").json == {"region": regions[EUROPE]}


def test_products_have_variants_with_a_price_per_currency(client: FlaskClient) -> None:
    listed = client.get("/store/products").json

    assert listed is not None and listed["count"] == len(listed["products"]) == 3
    product = client.get("/store/products/prod_tshirt").json["product"]  # type: ignore[index]
    assert product in listed["products"]
    assert product["id"].startswith("prod_") and product["handle"] == "t-shirt"
    variant = next(variant for variant in product["variants"] if variant["id"] == TSHIRT_M)
    assert variant["product_id"] == "prod_tshirt"
    prices = {price["currency_code"]: price["amount"] for price in variant["prices"]}
    assert prices == {"eur": 2500, "usd": 2800}


def test_products_are_paged_with_limit_and_offset(client: FlaskClient) -> None:
    everything = client.get("/store/products").json["products"]  # type: ignore[index]

    page = client.get("/store/products?limit=1&offset=1").json

    assert page is not None and page["products"] == everything[1:2]
    assert (page["count"], page["limit"], page["offset"]) == (3, 1, 1)
    assert_problem(client.get("/store/products?limit=many"), 400, "invalid_data")
    assert_problem(client.get("/store/products?offset=-1"), 400, "invalid_data")


def test_unknown_regions_and_products_are_404(client: FlaskClient) -> None:
    assert_problem(client.get("/store/regions/reg_none"), 404, "not_found")
    assert_problem(client.get("/store/products/prod_none"), 404, "not_found")


# --- Carts --------------------------------------------------------------------------------------


def test_a_cart_is_created_in_the_default_region_once_per_key(client: FlaskClient) -> None:
    first = client.post("/store/carts", headers=headers("new-cart"))
    retry = client.post("/store/carts", headers=headers("new-cart"))

    assert first.status_code == 200
    cart = first.json["cart"]  # type: ignore[index]
    assert cart["id"].startswith("cart_")
    assert (cart["region_id"], cart["region"]["currency_code"]) == (EUROPE, "eur")
    assert (cart["items"], cart["total"], cart["completed_at"]) == ([], 0, None)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert client.get(f"/store/carts/{cart['id']}").json == first.json


def test_a_cart_is_created_in_the_region_asked_for_with_its_items(client: FlaskClient) -> None:
    response = client.post(
        "/store/carts",
        json={"region_id": NORTH_AMERICA, "items": [{"variant_id": MUG, "quantity": 2}]},
    )

    cart = response.json["cart"]  # type: ignore[index]
    assert cart["region_id"] == NORTH_AMERICA
    [item] = cart["items"]
    # Priced in the region's currency, taxed at its 8.25 %.
    assert (item["variant_id"], item["quantity"], item["unit_price"]) == (MUG, 2, 1400)
    assert cart["tax_total"] == tax_for(2800, 825) == 231


@pytest.mark.parametrize(
    ("body", "status", "medusa_type"),
    [
        ({"region_id": "reg_none"}, 404, "not_found"),
        ({"region_id": 7}, 400, "invalid_data"),
        ({"currency": "eur"}, 400, "invalid_data"),
        ({"items": [{"variant_id": "variant_none", "quantity": 1}]}, 404, "not_found"),
        ({"items": [{"variant_id": MUG, "quantity": 0}]}, 400, "invalid_data"),
        ({"items": {"variant_id": MUG}}, 400, "invalid_data"),
        ([EUROPE], 400, "invalid_data"),
    ],
)
def test_bad_carts_are_refused_with_problems(
    client: FlaskClient, body: object, status: int, medusa_type: str
) -> None:
    assert_problem(client.post("/store/carts", json=body), status, medusa_type)


def test_an_unknown_cart_is_404_with_medusas_message(client: FlaskClient) -> None:
    body = assert_problem(client.get("/store/carts/cart_missing"), 404, "not_found")

    assert body["message"] == "Cart with cart_missing was not found"


def test_a_cart_takes_an_email(client: FlaskClient) -> None:
    cart_id = new_cart(client)

    updated = client.post(f"/store/carts/{cart_id}", json={"email": "ada@example.com"})

    assert updated.json["cart"]["email"] == "ada@example.com"  # type: ignore[index]
    assert cart_of(client, cart_id)["email"] == "ada@example.com"
    for bad in ("not-an-email", 42, "a@b"):
        response = client.post(f"/store/carts/{cart_id}", json={"email": bad})
        assert_problem(response, 400, "invalid_data")


def test_moving_a_cart_to_another_region_prices_it_in_that_currency(client: FlaskClient) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 2))
    client.post(f"/store/carts/{cart_id}/shipping-methods", json={"option_id": EUROPE_STANDARD})

    moved = client.post(f"/store/carts/{cart_id}", json={"region_id": NORTH_AMERICA})

    cart = moved.json["cart"]  # type: ignore[index]
    assert (cart["region_id"], cart["region"]["currency_code"]) == (NORTH_AMERICA, "usd")
    assert [item["unit_price"] for item in cart["items"]] == [2800]
    # Europe's shipping option does not ship from North America.
    assert (cart["shipping_methods"], cart["shipping_total"]) == ([], 0)
    assert cart["total"] == 5600 + tax_for(5600, 825)
    assert_problem(
        client.post(f"/store/carts/{cart_id}", json={"region_id": "reg_none"}), 404, "not_found"
    )


# --- Line items ---------------------------------------------------------------------------------


def test_line_items_are_added_merged_and_totalled_line_by_line(client: FlaskClient) -> None:
    cart_id = new_cart(client, (TSHIRT_M, 1), (MUG, 3), (TSHIRT_M, 1))

    cart = cart_of(client, cart_id)

    quantities = {item["variant_id"]: item["quantity"] for item in cart["items"]}
    assert quantities == {TSHIRT_M: 2, MUG: 3}
    item = next(item for item in cart["items"] if item["variant_id"] == MUG)
    assert item["id"].startswith("item_")
    assert (item["unit_price"], item["subtotal"], item["product_id"]) == (1200, 3600, "prod_mug")
    assert item["tax_total"] == tax_for(3600, EUROPE_TAX)
    assert cart["subtotal"] == 2 * 2500 + 3 * 1200
    assert cart["tax_total"] == sum(line["tax_total"] for line in cart["items"])
    assert cart["total"] == cart["subtotal"] + cart["tax_total"]


def test_adding_a_line_item_is_idempotent(client: FlaskClient) -> None:
    cart_id = new_cart(client)
    body = {"variant_id": MUG, "quantity": 1}
    path = f"/store/carts/{cart_id}/line-items"

    first = client.post(path, json=body, headers=headers("add-mug"))
    retry = client.post(path, json=body, headers=headers("add-mug"))

    assert retry.data == first.data
    [item] = cart_of(client, cart_id)["items"]
    assert item["quantity"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"variant_id": "variant_missing", "quantity": 1}, 404),
        ({"variant_id": MUG, "quantity": 0}, 400),
        ({"variant_id": MUG, "quantity": -2}, 400),
        ({"variant_id": MUG, "quantity": 1.5}, 400),
        ({"variant_id": MUG, "quantity": "2"}, 400),
        ({"variant_id": MUG, "quantity": True}, 400),
        ({"variant_id": MUG, "quantity": 10_001}, 400),
        ({"variant_id": MUG}, 400),
        ({"product_id": "prod_mug", "quantity": 1}, 400),
        ({"variant_id": MUG, "quantity": 1, "note": "gift"}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_line_items_are_refused_with_problems(
    client: FlaskClient, body: object, status: int
) -> None:
    cart_id = new_cart(client)

    response = client.post(f"/store/carts/{cart_id}/line-items", json=body)

    assert_problem(response, status, "not_found" if status == 404 else "invalid_data")
    assert cart_of(client, cart_id)["items"] == []


def test_a_cart_holds_at_most_10000_of_a_variant(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 10_000))

    response = client.post(
        f"/store/carts/{cart_id}/line-items", json={"variant_id": MUG, "quantity": 1}
    )

    assert_problem(response, 400, "invalid_data")
    assert [item["quantity"] for item in cart_of(client, cart_id)["items"]] == [10_000]


def test_a_line_item_for_an_unknown_cart_is_404(client: FlaskClient) -> None:
    response = client.post(
        "/store/carts/cart_missing/line-items", json={"variant_id": MUG, "quantity": 1}
    )
    assert_problem(response, 404, "not_found")


def test_a_line_items_quantity_is_set_and_0_removes_it(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1), (HOODIE_L, 1))
    lines = {item["variant_id"]: item["id"] for item in cart_of(client, cart_id)["items"]}
    mug, hoodie = lines[MUG], lines[HOODIE_L]
    path = f"/store/carts/{cart_id}/line-items"

    set_to_5 = client.post(f"{path}/{mug}", json={"quantity": 5})
    removed = client.post(f"{path}/{hoodie}", json={"quantity": 0})

    assert [item["quantity"] for item in set_to_5.json["cart"]["items"]] == [5, 1]  # type: ignore[index]
    assert [item["id"] for item in removed.json["cart"]["items"]] == [mug]  # type: ignore[index]
    assert cart_of(client, cart_id)["subtotal"] == 5 * PRICES[MUG]
    # Setting 0 of a line that is gone already holds; any other quantity is Medusa's 400.
    assert client.post(f"{path}/{hoodie}", json={"quantity": 0}).status_code == 200
    assert_problem(client.post(f"{path}/{hoodie}", json={"quantity": 2}), 400, "invalid_data")
    assert_problem(client.post(f"{path}/{mug}", json={"quantity": -1}), 400, "invalid_data")


def test_a_line_item_is_deleted_and_deleting_it_again_changes_nothing(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1), (TSHIRT_M, 2))
    [mug] = (item["id"] for item in cart_of(client, cart_id)["items"] if item["variant_id"] == MUG)

    deleted = client.delete(f"/store/carts/{cart_id}/line-items/{mug}")
    again = client.delete(f"/store/carts/{cart_id}/line-items/{mug}")

    assert [item["variant_id"] for item in deleted.json["cart"]["items"]] == [TSHIRT_M]  # type: ignore[index]
    assert again.status_code == 200
    assert again.json["cart"]["items"] == deleted.json["cart"]["items"]  # type: ignore[index]


# --- Shipping and payment -----------------------------------------------------------------------


def test_the_shipping_options_of_the_carts_region_are_listed(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1))

    options = client.get(f"/store/shipping-options/{cart_id}").json["shipping_options"]  # type: ignore[index]

    assert [option["id"] for option in options] == [EUROPE_STANDARD, EUROPE_EXPRESS]
    standard = options[0]
    assert (standard["amount"], standard["region_id"], standard["provider_id"]) == (
        EUROPE_STANDARD_PRICE,
        EUROPE,
        "manual",
    )
    assert standard["price_incl_tax"] == 800 + tax_for(800, EUROPE_TAX)
    assert_problem(client.get("/store/shipping-options/cart_none"), 404, "not_found")


def test_a_shipping_method_is_chosen_replaced_and_taxed_in_the_totals(
    client: FlaskClient,
) -> None:
    cart_id = new_cart(client, (MUG, 1))
    path = f"/store/carts/{cart_id}/shipping-methods"

    client.post(path, json={"option_id": EUROPE_STANDARD})
    cart = client.post(path, json={"option_id": EUROPE_EXPRESS}).json["cart"]  # type: ignore[index]

    [method] = cart["shipping_methods"]
    assert method["id"].startswith("sm_")
    assert (method["shipping_option_id"], method["price"]) == (EUROPE_EXPRESS, 1500)
    assert cart["shipping_total"] == 1500
    assert cart["shipping_tax_total"] == tax_for(1500, EUROPE_TAX)
    assert cart["tax_total"] == tax_for(1200, EUROPE_TAX) + tax_for(1500, EUROPE_TAX)
    assert cart["total"] == 1200 + 1500 + cart["tax_total"]


def test_a_shipping_option_of_another_region_or_none_is_refused(client: FlaskClient) -> None:
    cart_id = new_cart(client, (MUG, 1))
    path = f"/store/carts/{cart_id}/shipping-methods"

    elsewhere = client.post(path, json={"option_id": "so_north_america_standard"})

    assert_problem(elsewhere, 400, "not_allowed")
    assert_problem(client.post(path, json={"option_id": "so_none"}), 404, "not_found")
    assert_problem(client.post(path, json={}), 400, "invalid_data")
    assert cart_of(client, cart_id)["shipping_methods"] == []


def test_payment_sessions_give_the_manual_provider_selected(client: FlaskClient) -> None:
    cart_id = new_cart(client, (HOODIE_L, 1))

    created = client.post(f"/store/carts/{cart_id}/payment-sessions").json["cart"]  # type: ignore[index]
    selected = client.post(
        f"/store/carts/{cart_id}/payment-session", json={"provider_id": "manual"}
    ).json["cart"]  # type: ignore[index]

    [session] = created["payment_sessions"]
    assert session["id"].startswith("ps_")
    assert (session["provider_id"], session["is_selected"], session["status"]) == (
        "manual",
        True,
        "pending",
    )
    assert session["amount"] == created["total"]
    assert selected["payment_session"]["id"] == session["id"]
    assert selected["payment_sessions"] == created["payment_sessions"]
    refused = client.post(f"/store/carts/{cart_id}/payment-session", json={"provider_id": "stripe"})
    assert_problem(refused, 400, "not_allowed")


# --- Orders -------------------------------------------------------------------------------------


def test_unknown_orders_are_404(client: FlaskClient) -> None:
    assert_problem(client.get("/store/orders/order_none"), 404, "not_found")
    cart_id = new_cart(client, (MUG, 1))
    assert_problem(client.get(f"/store/orders/cart/{cart_id}"), 404, "not_found")


def test_an_unknown_path_is_a_problem_too(client: FlaskClient) -> None:
    assert_problem(client.get("/store/nothing-here"), 404, "not_found")
    assert_problem(client.get("/admin/carts/cart_missing/audit"), 404, "not_found")
