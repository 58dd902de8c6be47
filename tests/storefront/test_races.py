"""Changes to one cart racing each other, and racing its completion, under gunicorn with four
worker processes on each database. Each test asserts what must hold whatever the order the
machine ran them in: never a 500; the cart ends as some serial order of the changes leaves
it; a change refused while the cart is being completed is a 409 that is not stored; the order
holds exactly the changes that were answered 200, and its tax total is the sum of its tax
lines."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import pytest
from flask import Flask

from tests.reliability.shop_client import Shop
from tests.served import Reply
from tests.storefront.conftest import (
    HOODIE_L,
    MUG,
    TSHIRT_M,
    assert_order_adds_up,
    completed,
)

pytestmark = pytest.mark.concurrency

# Far beyond what any step takes on a loaded machine; it only bounds a test failing anyway.
PATIENCE = 60

Answer = TypeVar("Answer")


def retried_by_medusa_js(status: int) -> bool:
    """What medusa-js retries with the same key: a 409, or a 5xx other than 500."""
    return status == 409 or 500 < status < 600


def answered(send: Callable[[], Reply], retry: Callable[[int], bool]) -> tuple[Reply, list[int]]:
    """The first answer ``retry`` does not retry, and every status on the way."""
    statuses = []
    deadline = time.monotonic() + PATIENCE
    while True:
        reply = send()
        statuses.append(reply.status)
        if not retry(reply.status) or time.monotonic() > deadline:
            return reply, statuses
        time.sleep(0.05)


def together(requests: list[Callable[[], Answer]]) -> list[Answer]:
    """Run ``requests`` each in a thread of its own, released at the same moment."""
    start = threading.Barrier(len(requests))

    def run(request: Callable[[], Answer]) -> Answer:
        start.wait(timeout=30)
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


def quantities(reply: Reply) -> dict[str, int]:
    return {item["variant_id"]: item["quantity"] for item in reply.json()["cart"]["items"]}


def test_simultaneous_adds_of_one_variant_under_different_keys_add_up(
    storefront_server: int,
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart()
    # Two taps, two tabs, many clients: each its own key.
    adds = [(MUG, 1), (MUG, 2), (MUG, 3), (MUG, 4), (MUG, 5), (MUG, 6), (TSHIRT_M, 1)]

    results = together(
        [
            partial(
                answered,
                partial(shop.add, cart_id, variant, quantity, key=f"add-{number}"),
                retried_by_medusa_js,
            )
            for number, (variant, quantity) in enumerate(adds)
        ]
    )

    statuses = [status for _, attempts in results for status in attempts]
    assert 500 not in statuses, statuses
    assert [reply.status for reply, _ in results] == [200] * len(adds), statuses
    cart = shop.call("GET", f"/store/carts/{cart_id}").json()["cart"]
    assert {item["variant_id"]: item["quantity"] for item in cart["items"]} == {
        MUG: 21,
        TSHIRT_M: 1,
    }
    # Each add saw the cart as some serial order left it: no two mug adds saw the same total.
    seen = [
        quantities(reply)[MUG]
        for (reply, _), (variant, _quantity) in zip(results, adds, strict=True)
        if variant == MUG
    ]
    assert len(set(seen)) == len(seen), seen
    for number, (variant, quantity) in enumerate(adds):
        replay = shop.add(cart_id, variant, quantity, key=f"add-{number}")
        assert replay.replayed and replay.body == results[number][0].body


def serial_outcomes(start: int, changes: list[tuple[str, int]]) -> dict[tuple[int, ...], set[int]]:
    """Every order the changes could run in, one after the other, as the quantity each change
    would answer with (in the changes' own order), with the quantity left at the end."""
    outcomes: dict[tuple[int, ...], set[int]] = {}
    for order in itertools.permutations(range(len(changes))):
        quantity, seen = start, [0] * len(changes)
        for index in order:
            kind, amount = changes[index]
            quantity = quantity + amount if kind == "add" else amount
            seen[index] = quantity
        outcomes.setdefault(tuple(seen), set()).add(quantity)
    return outcomes


def test_simultaneous_adds_and_updates_of_one_line_run_as_if_one_after_the_other(
    storefront_server: int,
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart((MUG, 1))
    [line] = shop.call("GET", f"/store/carts/{cart_id}").json()["cart"]["items"]
    changes = [("add", 1), ("add", 2), ("set", 10), ("add", 4), ("set", 20)]

    def change(number: int, kind: str, amount: int) -> Reply:
        if kind == "add":
            return shop.add(cart_id, MUG, amount, key=f"change-{number}")
        return shop.call(
            "POST",
            f"/store/carts/{cart_id}/line-items/{line['id']}",
            {"quantity": amount},
            {"Idempotency-Key": f"change-{number}"},
        )

    results = together(
        [
            partial(answered, partial(change, number, kind, amount), retried_by_medusa_js)
            for number, (kind, amount) in enumerate(changes)
        ]
    )

    statuses = [status for _, attempts in results for status in attempts]
    assert [reply.status for reply, _ in results] == [200] * len(changes), statuses
    seen = tuple(quantities(reply)[MUG] for reply, _ in results)
    final = quantities(shop.call("GET", f"/store/carts/{cart_id}"))[MUG]
    outcomes = serial_outcomes(1, changes)
    # What each change answered, and what the cart holds, is what one serial order gives.
    assert seen in outcomes, seen
    assert final in outcomes[seen], (seen, final)


def test_a_change_while_the_cart_is_being_completed_is_a_409_that_is_not_stored(
    app: Flask, storefront_server: int
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart((TSHIRT_M, 1), (MUG, 2))
    cart = shop.call("GET", f"/store/carts/{cart_id}").json()["cart"]
    line = cart["items"][0]["id"]
    changes = {
        "add": (
            "POST",
            f"/store/carts/{cart_id}/line-items",
            {"variant_id": HOODIE_L, "quantity": 1},
        ),
        "update": ("POST", f"/store/carts/{cart_id}/line-items/{line}", {"quantity": 9}),
        "delete": ("DELETE", f"/store/carts/{cart_id}/line-items/{line}", None),
    }

    def send(name: str) -> Reply:
        method, path, body = changes[name]
        return shop.call(method, path, body, {"Idempotency-Key": f"{name}-during"})

    with ThreadPoolExecutor(1) as pool:
        # Held inside its payment stage, after its first stage committed.
        completion = pool.submit(shop.complete, cart_id, "checkout", **{"X-Storefront-Delay": "3"})
        deadline = time.monotonic() + PATIENCE
        while shop.audit(cart_id)["tax_lines"] != 3:
            assert time.monotonic() < deadline, "the completion never got going"
            time.sleep(0.02)
        during = {}
        for name in changes:
            reply = send(name)
            # Whether the completion had finished when this change was answered.
            finished = shop.audit(cart_id)["orders"] == 1
            during[name] = (reply, finished)
        order = completion.result(timeout=PATIENCE)

    assert order.status == 200, order
    for name, (reply, finished) in during.items():
        if not finished:
            # The cart was being completed all the while this change ran.
            assert reply.status == 409, (name, reply)
        assert reply.status in (409, 400), (name, reply)
        if reply.status == 409:
            assert reply.json()["medusa_type"] == "conflict", reply
        # The retry with the same key, now that the cart is completed, runs again (a 409 was
        # not stored) and learns so; a 400 was the completed cart's answer already.
        retry = send(name)
        assert retry.status == 400, (name, retry)
        assert retry.json()["code"] == "cart_incompatible_state", retry
        assert retry.replayed == (reply.status == 400), (name, reply, retry)

    items = {item["variant_id"]: item["quantity"] for item in order.json()["data"]["items"]}
    assert items == {TSHIRT_M: 1, MUG: 2}
    assert shop.audit(cart_id) == completed(lines=2)
    assert_order_adds_up(app, cart_id)


def test_adds_racing_a_completion_are_in_its_order_or_refused(
    app: Flask, storefront_server: int
) -> None:
    shop = Shop(storefront_server)
    cart_id = shop.new_cart((TSHIRT_M, 1))
    adds = [(MUG, 1), (HOODIE_L, 2), (MUG, 3), (TSHIRT_M, 4)]

    def not_retried(status: int) -> bool:
        # A 409 is not retried here: what it first answered is what the test looks at.
        return 500 < status < 600

    results = together(
        [
            partial(answered, partial(shop.complete, cart_id, "racing-checkout"), not_retried),
            *(
                partial(
                    answered,
                    partial(shop.add, cart_id, variant, quantity, key=f"racing-{number}"),
                    not_retried,
                )
                for number, (variant, quantity) in enumerate(adds)
            ),
        ]
    )

    (order, _), *added = results
    assert order.status == 200, order
    statuses = [status for _, attempts in results for status in attempts]
    assert 500 not in statuses, statuses
    expected = {TSHIRT_M: 1}
    for (reply, _), (variant, quantity) in zip(added, adds, strict=True):
        assert reply.status in (200, 409, 400), reply
        if reply.status == 200:
            expected[variant] = expected.get(variant, 0) + quantity
    # Every add answered 200 is in the order; every refused one is not.
    items = {item["variant_id"]: item["quantity"] for item in order.json()["data"]["items"]}
    assert items == expected
    assert shop.audit(cart_id) == completed(lines=len(expected))
    assert_order_adds_up(app, cart_id)
