"""The review page's Place order, in headless Chromium against the storefront under gunicorn on
each database: a double click, an answer lost on its way back, a stage that fails half-way and
a reload while the order is being placed each end in one order, which the page shows. The page
sends one Idempotency-Key per checkout attempt, the same for every click and every retry."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from example_app.faults import DELAY_HEADER, FAULT_HEADER
from tests.browser.conftest import ServedStorefront
from tests.browser.ledger import completion_started, order_ids, recovery_point, tax_line_ids
from tests.browser.playwright_api import APIResponse, Page, Request, Route, expect
from tests.browser.shopper import (
    expect_every_click_finished,
    expect_order_shown,
    order_confirmation,
    place_order_button,
    shop_until_review,
    stored_attempt_key,
)
from tests.browser.traffic import COMPLETE_URL, Completions, record_status_texts
from tests.storefront.conftest import assert_order_adds_up, audit, completed

pytestmark = pytest.mark.concurrency

RETRY_MESSAGE = re.compile("retrying", re.IGNORECASE)
# Set to a directory to save the page after the recovered fault there, as the README shows it.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def the_one_order(storefront: ServedStorefront, cart_id: str) -> str:
    """The cart's only order, with one payment and tax lines made once, adding up."""
    orders = order_ids(storefront.app, cart_id)
    assert len(orders) == 1, f"{len(orders)} orders for one checkout"
    assert audit(storefront.app.test_client(), cart_id) == completed(lines=1)
    assert_order_adds_up(storefront.app, cart_id)
    return orders[0]


def the_one_key(completions: Completions) -> str:
    """The key every completion request carried."""
    keys = set(completions.keys)
    assert len(keys) == 1, f"one checkout attempt sent keys {completions.keys}"
    (key,) = keys
    assert key, "every completion request carries an Idempotency-Key"
    return key


def wait_until(page: Page, condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    """Polls ``condition`` until it holds, letting the browser's events through meanwhile."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {seconds} s"
        page.wait_for_timeout(25)


def test_a_double_click_on_place_order_places_one_order(
    page: Page, storefront: ServedStorefront
) -> None:
    completions = Completions.watch(page)
    cart_id = shop_until_review(page)

    # The completion takes a moment, as a payment provider's does: the second click lands
    # while the first is still being placed.
    def slow_completion(route: Route, request: Request) -> None:
        route.continue_(headers={**request.headers, DELAY_HEADER: "0.5"})

    page.route(COMPLETE_URL, slow_completion)
    place_order_button(page).dblclick()

    order_confirmation(page)
    expect_every_click_finished(page)
    assert len(completions.requests) >= 2, "each click sends a request"
    key = the_one_key(completions)
    outcomes = completions.outcomes()
    # The server ran the completion once; the other click was told it was in flight, or
    # got the stored order.
    assert outcomes.count("200") == 1, outcomes
    assert set(outcomes) <= {"200", "200 replayed", "409"}, outcomes
    expect_order_shown(page, the_one_order(storefront, cart_id), key)


def test_an_answer_lost_on_its_way_back_is_retried_and_shows_the_order_it_placed(
    page: Page, storefront: ServedStorefront
) -> None:
    completions = Completions.watch(page)
    shown = record_status_texts(page)
    cart_id = shop_until_review(page)
    lost: list[APIResponse] = []

    # The first request reaches the server and places the order; the connection drops before
    # the browser hears the answer.
    def lose_the_first_answer(route: Route) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.fetch())
        route.abort("connectionreset")

    page.route(COMPLETE_URL, lose_the_first_answer)
    place_order_button(page).click()

    order_confirmation(page)
    expect_every_click_finished(page)
    assert [answer.status for answer in lost] == [200]
    placed = lost[0].json()["data"]["id"]
    key = the_one_key(completions)
    # What the browser heard: nothing for the first request, then the stored order.
    assert sorted(completions.outcomes()) == ["200 replayed", "no answer"]
    assert the_one_order(storefront, cart_id) == placed
    expect_order_shown(page, placed, key)
    assert any(RETRY_MESSAGE.search(text) for text in shown), shown


def test_a_payment_stage_that_fails_is_resumed_by_the_retry_without_taxing_twice(
    page: Page, storefront: ServedStorefront
) -> None:
    completions = Completions.watch(page)
    shown = record_status_texts(page)
    cart_id = shop_until_review(page)
    # What the database held when the failed attempt's 500 reached the page.
    after_fault: dict[str, object] = {}

    def fail_the_first_payment(route: Route, request: Request) -> None:
        if after_fault:
            route.continue_()
            return
        answer = route.fetch(headers={**request.headers, FAULT_HEADER: "payment_authorized"})
        after_fault["status"] = answer.status
        try:
            after_fault.update(
                audit=audit(storefront.app.test_client(), cart_id),
                tax_lines=tax_line_ids(storefront.app, cart_id),
                recovery_point=recovery_point(storefront.app, request.headers["idempotency-key"]),
            )
        finally:  # the page gets its answer even if a read failed, and the test says why
            route.fulfill(response=answer)

    page.route(COMPLETE_URL, fail_the_first_payment)
    place_order_button(page).click()

    order_confirmation(page)
    expect_every_click_finished(page)
    key = the_one_key(completions)
    assert after_fault["status"] == 500
    # The tax lines stage had committed, the payment stage had rolled back.
    assert after_fault["recovery_point"] == "tax_lines_created"
    assert after_fault["audit"] == {
        "line_items": 1,
        "shipping_methods": 1,
        "tax_lines": 2,
        "payments": 0,
        "orders": 0,
    }
    order_id = the_one_order(storefront, cart_id)
    # Resumed after its last finished stage: the same tax lines, not made again.
    assert tax_line_ids(storefront.app, cart_id) == after_fault["tax_lines"]
    assert recovery_point(storefront.app, key) == "finished"
    assert completions.outcomes() == ["500", "200"]
    expect_order_shown(page, order_id, key)
    assert any(RETRY_MESSAGE.search(text) for text in shown), shown

    if SCREENSHOT_DIR and storefront.kind == "sqlite":
        page.screenshot(path=Path(SCREENSHOT_DIR) / "checkout-recovered.png", full_page=True)


def test_a_reload_while_the_order_is_being_placed_keeps_the_attempts_key(
    page: Page, storefront: ServedStorefront
) -> None:
    completions = Completions.watch(page)
    cart_id = shop_until_review(page)

    # The first request is held up inside the payment stage, long enough to reload the page
    # (and shorter than the storefront's lock timeout, so nothing takes its key over).
    routed: list[Request] = []

    def slow_first_payment(route: Route, request: Request) -> None:
        routed.append(request)
        if len(routed) == 1:
            route.continue_(headers={**request.headers, DELAY_HEADER: "1.5"})
        else:
            route.continue_()

    page.route(COMPLETE_URL, slow_first_payment)
    with page.expect_request(COMPLETE_URL) as first_request:
        place_order_button(page).click()
    first_key = first_request.value.headers["idempotency-key"]
    wait_until(
        page,
        lambda: completion_started(storefront.app, cart_id),
        "the server to start completing the cart",
    )

    page.reload()
    # Mid-attempt: the page never heard back, and the server had not finished.
    assert not completions.responses, completions.outcomes()
    expect(page.locator("[data-test=completion-started]")).to_be_visible()
    assert stored_attempt_key(page, cart_id) == first_key
    place_order_button(page).click()

    order_confirmation(page)
    expect_every_click_finished(page)
    assert len(completions.requests) >= 2
    assert the_one_key(completions) == first_key
    expect_order_shown(page, the_one_order(storefront, cart_id), first_key)
    # The attempt is over once its order is shown: the next checkout starts a new one.
    assert stored_attempt_key(page, cart_id) is None
