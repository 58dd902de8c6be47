"""What a shopper does on the storefront's pages, up to the review page's Place order, and what
the page then shows."""

from __future__ import annotations

import re

from tests.browser.playwright_api import Locator, Page, expect
from tests.storefront.conftest import TSHIRT_M

# The T-shirt (M) at EUR 25.00 with Europe's 20 % tax, before shipping.
TSHIRT_M_WITH_TAX = "€30.00"


def shop_until_review(page: Page) -> str:
    """Adds a T-shirt to a new cart, checks out with the prefilled details and stops at the
    review page; the cart's id, as the page names it."""
    page.goto("/")
    page.locator(f'button[data-test=add-to-cart][data-variant-id="{TSHIRT_M}"]').click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator("[data-test=line-item]")).to_have_count(1)
    expect(page.locator("[data-test=cart-total]")).to_have_text(TSHIRT_M_WITH_TAX)
    page.locator("a[data-test=checkout]").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    page.locator("button[data-test=continue]").click()
    expect(page).to_have_url(re.compile(r"/checkout/review$"))
    cart_id = checkout_section(page).get_attribute("data-cart-id")
    assert cart_id, "the review page names its cart"
    return cart_id


def checkout_section(page: Page) -> Locator:
    return page.locator("main#checkout")


def place_order_button(page: Page) -> Locator:
    return page.locator("button#place-order")


def order_confirmation(page: Page) -> Locator:
    """``section#order-confirmation``, once it is shown."""
    confirmation = page.locator("section#order-confirmation")
    expect(confirmation).to_be_visible()
    return confirmation


def expect_order_shown(page: Page, order_id: str, key: str) -> None:
    """The page confirms ``order_id``, by its display id, as the answer for ``key``."""
    confirmation = order_confirmation(page)
    expect(confirmation).to_have_attribute("data-order-id", order_id)
    expect(confirmation).to_have_attribute("data-idempotency-key", key)
    display_id = confirmation.get_attribute("data-display-id")
    assert display_id
    expect(confirmation).to_contain_text(f"Order #{display_id} placed")
    # Placed: nothing is left to click.
    expect(place_order_button(page)).to_be_hidden()


def expect_every_click_finished(page: Page) -> None:
    """Every click's loop of requests has ended (the button is busy while one runs), so the
    page sends nothing more."""
    expect(place_order_button(page)).not_to_have_attribute("aria-busy", "true")


def stored_attempt_key(page: Page, cart_id: str) -> str | None:
    """The checkout attempt's key as the page keeps it, in sessionStorage."""
    key: str | None = page.evaluate(
        "cartId => sessionStorage.getItem('checkout-attempt:' + cartId)", cart_id
    )
    return key
