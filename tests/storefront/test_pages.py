"""The shop pages (example_app/pages) through the test client, on every database: the elements
the browser tests and shoppers rely on, carts made and changed by the store's own logic, the
checkout details set as the store API sets them, and the review page's script served.

What the script does in a browser is tested in tests/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from example_app import create_app
from example_app.extensions import db
from example_app.models import Cart, ProductVariant

from .conftest import EUROPE, EUROPE_EXPRESS, EUROPE_STANDARD, MUG, TSHIRT_M, audit, cart_of

# Elements that have no end tag.
VOID_ELEMENTS = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class Element:
    """An element of a parsed page: enough of a DOM to find elements as a browser test does,
    by tag and attributes, and read their text."""

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element | str] = []

    @property
    def text(self) -> str:
        parts = (child if isinstance(child, str) else child.text for child in self.children)
        return " ".join(" ".join(parts).split())

    def descendants(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.descendants()

    def select(self, tag: str | None = None, **attrs: str | None) -> list[Element]:
        """Elements below this one of ``tag`` with these attribute values (``data_test`` is
        ``data-test``; None only asks that the attribute is there)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [
            element
            for element in self.descendants()
            if (tag is None or element.tag == tag)
            and all(
                name in element.attrs and (value is None or element.attrs[name] == value)
                for name, value in wanted.items()
            )
        ]

    def one(self, tag: str | None = None, **attrs: str | None) -> Element:
        found = self.select(tag, **attrs)
        assert len(found) == 1, f"{len(found)} elements {tag} {attrs}"
        return found[0]


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID_ELEMENTS:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def page(response: TestResponse) -> Element:
    assert response.mimetype == "text/html", response.get_data(as_text=True)[:500]
    parser = PageParser()
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser.root


def session_cart_id(client: FlaskClient) -> str | None:
    with client.session_transaction() as session:
        cart_id = session.get("cart_id")
    return None if cart_id is None else str(cart_id)


def add_to_cart(client: FlaskClient, variant_id: str, quantity: int | str = 1) -> TestResponse:
    return client.post("/cart/items", data={"variant_id": variant_id, "quantity": str(quantity)})


def form_values(form: Element) -> dict[str, str]:
    """What a browser would submit for ``form`` as it is shown."""
    values = {}
    for element in form.select("input"):
        name = element.attrs.get("name")
        kind = element.attrs.get("type", "text")
        if name and (kind not in ("radio", "checkbox") or "checked" in element.attrs):
            values[name] = element.attrs.get("value") or ""
    for select_element in form.select("select"):
        # A browser submits the selected option, or the first when none is.
        chosen = [*select_element.select("option", selected=None), *select_element.select("option")]
        values[str(select_element.attrs["name"])] = str(chosen[0].attrs["value"])
    return values


def at_review(client: FlaskClient, *items: tuple[str, int]) -> str:
    """A cart with ``items``, through the pages, its details as the form fills them in: its
    id, with the shopper at the review page."""
    for variant_id, quantity in items:
        assert add_to_cart(client, variant_id, quantity).status_code == 303
    details = form_values(page(client.get("/checkout")).one("form", action="/checkout"))
    response = client.post("/checkout", data=details)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/checkout/review"
    cart_id = session_cart_id(client)
    assert cart_id is not None
    return cart_id


def test_the_products_page_has_an_add_to_cart_form_for_every_variant(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/")

    assert response.status_code == 200
    shown = page(response)
    with app.app_context():
        variants = db.session.scalars(select(ProductVariant)).all()
        assert len(variants) == 6
        for variant in variants:
            button = shown.one("button", data_test="add-to-cart", data_variant_id=variant.id)
            assert button.text == "Add to cart"
            (form,) = [
                candidate
                for candidate in shown.select("form", method="post", action="/cart/items")
                if button in candidate.descendants()
            ]
            assert form.one("input", type="hidden", name="variant_id").attrs["value"] == variant.id
            assert form.one("input", type="number", name="quantity").attrs["value"] == "1"
    # The default region's currency, Europe's EUR.
    tshirt = shown.one("li", data_test="variant", data_variant_id=TSHIRT_M)
    assert tshirt.one(data_test="price").text == "€25.00"


def test_adding_to_cart_makes_a_cart_in_the_default_region_and_shows_it(
    client: FlaskClient,
) -> None:
    response = add_to_cart(client, TSHIRT_M, 2)

    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"
    cart_id = session_cart_id(client)
    assert cart_id is not None
    cart = cart_of(client, cart_id)
    assert cart["region_id"] == EUROPE
    assert [(item["variant_id"], item["quantity"]) for item in cart["items"]] == [(TSHIRT_M, 2)]

    shown = page(client.get("/cart"))
    (line,) = shown.select(data_test="line-item")
    assert line.attrs["data-variant-id"] == TSHIRT_M
    assert line.one(data_test="quantity").text == "2"
    # 2 x 25.00 and Europe's 20 % tax: the store API's total.
    assert cart["total"] == 6000
    assert shown.one(data_test="cart-total").text == "€60.00"
    assert shown.one("a", data_test="checkout").attrs["href"] == "/checkout"


def test_adding_again_adds_to_the_same_cart(client: FlaskClient) -> None:
    add_to_cart(client, TSHIRT_M, 1)
    cart_id = session_cart_id(client)
    add_to_cart(client, TSHIRT_M, 2)
    add_to_cart(client, MUG, 1)

    assert session_cart_id(client) == cart_id
    assert cart_id is not None
    items = cart_of(client, cart_id)["items"]
    assert [(item["variant_id"], item["quantity"]) for item in items] == [(TSHIRT_M, 3), (MUG, 1)]
    assert len(page(client.get("/cart")).select(data_test="line-item")) == 2


def test_an_empty_cart_says_so_and_links_to_the_products(client: FlaskClient) -> None:
    shown = page(client.get("/cart"))

    assert "Your cart is empty" in shown.one(data_test="empty-cart").text
    assert shown.select("a", href="/")
    assert not shown.select(data_test="line-item")
    assert not shown.select(data_test="checkout")


@pytest.mark.parametrize(
    ("variant_id", "quantity", "status", "message"),
    [
        (TSHIRT_M, 0, 400, "quantity must be from 1 to 10000"),
        (TSHIRT_M, "two", 400, "quantity must be an integer number"),
        (TSHIRT_M, 10_001, 400, "quantity must be from 1 to 10000"),
        ("variant_none", 1, 404, "Variant with variant_none was not found"),
    ],
)
def test_an_add_the_store_refuses_shows_its_message_and_makes_no_cart(
    app: Flask, client: FlaskClient, variant_id: str, quantity: int | str, status: int, message: str
) -> None:
    response = add_to_cart(client, variant_id, quantity)

    assert response.status_code == status
    assert page(response).one(data_test="error").text == message
    assert session_cart_id(client) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Cart)) == 0


def test_the_checkout_form_is_filled_in_with_the_regions_countries_and_first_option(
    client: FlaskClient,
) -> None:
    add_to_cart(client, MUG)

    shown = page(client.get("/checkout"))

    form = shown.one("form", method="post", action="/checkout")
    values = form_values(form)
    for name in ("email", "first_name", "last_name", "address_1", "city", "postal_code"):
        assert values[name], name
    countries = [option.attrs["value"] for option in form.one("select").select("option")]
    assert "de" in countries
    assert "us" not in countries
    options = form.select("input", type="radio", name="option_id")
    assert [option.attrs["value"] for option in options] == [EUROPE_STANDARD, EUROPE_EXPRESS]
    assert values["option_id"] == EUROPE_STANDARD
    assert form.one("button", data_test="continue").text == "Continue"


def test_continue_sets_the_details_on_the_cart_as_the_store_api_does(
    client: FlaskClient,
) -> None:
    add_to_cart(client, MUG, 2)
    details = form_values(page(client.get("/checkout")).one("form", action="/checkout"))

    response = client.post(
        "/checkout", data={**details, "email": "ada@example.com", "option_id": EUROPE_EXPRESS}
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/checkout/review"
    cart_id = session_cart_id(client)
    assert cart_id is not None
    cart = cart_of(client, cart_id)
    assert cart["email"] == "ada@example.com"
    assert [method["shipping_option_id"] for method in cart["shipping_methods"]] == [EUROPE_EXPRESS]
    assert cart["payment_session"]["provider_id"] == "manual"
    assert cart["payment_session"]["is_selected"] is True
    # Going back to the form shows what was chosen.
    again = form_values(page(client.get("/checkout")).one("form", action="/checkout"))
    assert again["email"] == "ada@example.com"
    assert again["option_id"] == EUROPE_EXPRESS
    assert again["city"] == details["city"]


def test_details_that_do_not_check_out_show_the_form_again_with_messages(
    client: FlaskClient,
) -> None:
    add_to_cart(client, MUG)
    cart_id = session_cart_id(client)
    assert cart_id is not None
    details = form_values(page(client.get("/checkout")).one("form", action="/checkout"))

    response = client.post(
        "/checkout",
        data={
            **details,
            "email": "not an email",
            "city": " ",
            "country_code": "us",
            "option_id": "so_north_america_standard",
        },
    )

    assert response.status_code == 400
    shown = page(response)
    errors = {
        str(message.attrs["data-field"]): message.text
        for message in shown.select(data_test="field-error")
    }
    assert errors == {
        "email": "email must be an email",
        "city": "Enter your city.",
        "country_code": "Europe does not ship to that country.",
        "option_id": "Choose a shipping option.",
    }
    form = shown.one("form", action="/checkout")
    assert form_values(form)["email"] == "not an email"
    assert form_values(form)["last_name"] == details["last_name"]
    assert shown.one("input", name="email").attrs["aria-invalid"] == "true"
    cart = cart_of(client, cart_id)
    assert cart["email"] is None
    assert cart["shipping_methods"] == []


def test_the_review_page_has_the_place_order_button_status_line_and_script(
    client: FlaskClient,
) -> None:
    cart_id = at_review(client, (TSHIRT_M, 2))

    response = client.get("/checkout/review")

    assert response.status_code == 200
    shown = page(response)
    main = shown.one("main", id="checkout")
    assert main.attrs["data-cart-id"] == cart_id
    assert main.attrs["data-complete-url"] == f"/store/carts/{cart_id}/complete"
    button = main.one("button", id="place-order", data_test="place-order")
    assert button.text == "Place order"
    status = main.one("p", id="checkout-status")
    assert (status.attrs["role"], status.attrs["aria-live"]) == ("status", "polite")
    assert shown.select("script", src="/static/checkout.js")
    assert not shown.select(id="order-confirmation")
    # 50.00 of shirts, 8.00 standard shipping, 20 % tax on both: what completion will charge.
    assert cart_of(client, cart_id)["total"] == 6960
    assert main.one(data_test="total").text == "€69.60"
    assert [row.attrs["data-variant-id"] for row in main.select(data_test="line-item")] == [
        TSHIRT_M
    ]


def test_review_without_details_goes_to_the_form_and_without_a_cart_to_the_cart(
    client: FlaskClient,
) -> None:
    assert client.get("/checkout/review").headers["Location"] == "/cart"
    assert client.get("/checkout").headers["Location"] == "/cart"
    add_to_cart(client, MUG)

    assert client.get("/checkout/review").headers["Location"] == "/checkout"


def test_once_the_order_is_placed_the_pages_show_it_and_the_next_add_starts_a_new_cart(
    client: FlaskClient,
) -> None:
    cart_id = at_review(client, (MUG, 1))
    complete_url = page(client.get("/checkout/review")).one("main").attrs["data-complete-url"]
    assert complete_url is not None

    completion = client.post(complete_url, json={}, headers={"Idempotency-Key": "page-order-1"})

    assert completion.status_code == 200
    assert completion.headers["Idempotency-Key"] == "page-order-1"
    answer: dict[str, Any] = completion.json  # type: ignore[assignment]
    assert answer["type"] == "order"
    order_id = answer["data"]["id"]
    review = client.get("/checkout/review")
    assert review.status_code == 303
    assert review.headers["Location"] == f"/orders/{order_id}"
    shown = page(client.get(f"/orders/{order_id}"))
    order = shown.one(data_test="order", data_order_id=order_id)
    display_id = order.attrs["data-display-id"]
    assert f"Order #{display_id}" in order.text
    assert order.one(data_test="total").text == "€24.00"  # 12.00 + 8.00 shipping, 20 % tax
    assert page(client.get("/cart")).select(data_test="empty-cart")

    add_to_cart(client, MUG)

    assert session_cart_id(client) not in (None, cart_id)
    assert audit(client, cart_id)["orders"] == 1


def test_a_cart_being_completed_goes_to_review_and_takes_no_more_items(
    client: FlaskClient,
) -> None:
    cart_id = at_review(client, (MUG, 1))
    failed = client.post(
        f"/store/carts/{cart_id}/complete",
        headers={"Idempotency-Key": "page-order-2", "X-Storefront-Fault": "payment_authorized"},
    )
    assert failed.status_code == 500

    assert client.get("/checkout").headers["Location"] == "/checkout/review"
    review = page(client.get("/checkout/review"))
    assert review.one("main", id="checkout").attrs["data-cart-id"] == cart_id
    assert review.select(data_test="completion-started")
    refused = add_to_cart(client, TSHIRT_M)
    assert refused.status_code == 409
    assert "is being completed" in page(refused).one(data_test="error").text
    assert audit(client, cart_id)["line_items"] == 1


def test_an_unknown_order_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/orders/order_none")

    assert response.status_code == 404
    assert page(response).one(data_test="error").text == "Order with order_none was not found"


def test_the_checkout_script_and_styles_are_served(client: FlaskClient) -> None:
    with client.get("/static/checkout.js") as script, client.get("/static/shop.css") as styles:
        assert script.status_code == 200
        assert script.mimetype in ("text/javascript", "application/javascript")
        source = script.get_data(as_text=True)
        assert '"checkout-attempt:"' in source
        assert '"Idempotency-Key"' in source
        assert styles.status_code == 200
        assert styles.mimetype == "text/css"


def test_the_session_secret_comes_from_flask_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite:///:memory:")
    assert create_app().config["SECRET_KEY"]

    monkeypatch.setenv("FLASK_SECRET_KEY", "a secret of the deployment's")

    assert create_app().config["SECRET_KEY"] == "a secret of the deployment's"
