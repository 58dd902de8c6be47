"""Duplicates across worker processes: one execution, everything else 409 or a replay."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from tests.reliability.conftest import Figures, ServeStorefront, add_figures, scaled
from tests.reliability.shop_client import (
    Shop,
    duplicated_effects,
    locks_left,
    outcomes,
    the_one_original,
)
from tests.served import Reply
from tests.storefront.conftest import HOODIE_L, MUG, TSHIRT_M


def fire_together(count: int, request: object) -> list[Reply]:
    start = threading.Barrier(count)

    def attempt(_: int) -> Reply:
        start.wait(timeout=30)
        return request()  # type: ignore[operator, no-any-return]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(attempt, range(count)))


def test_32_duplicates_across_4_workers_execute_once_then_replay(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    duplicates = 32
    with serve_storefront() as server:
        shop = Shop(server.port)
        cart_id = shop.new_cart((TSHIRT_M, 1), (MUG, 2))

        # The first to claim the key sleeps in its payment stage, so that the others overlap it.
        # How many do (409) and how many come after it finished (a replay) is the scheduler's
        # business, not the extension's (SQLite's single writer even makes duplicates wait at
        # their claim): the_one_original asserts only what must hold either way.
        replies = fire_together(
            duplicates,
            lambda: shop.complete(cart_id, "dup-32", **{"X-Storefront-Delay": "0.5"}),
        )
        original = the_one_original(replies)
        # Every client that got a 409 retries, and every retry now gets the one order.
        retries = [shop.complete(cart_id, "dup-32") for _ in range(duplicates)]

    assert all(reply.replayed and reply.body == original.body for reply in retries), outcomes(
        retries
    )
    effects = duplicated_effects(storefront, [cart_id])
    assert effects == 0
    assert locks_left(storefront) == 0
    add_figures(figures, requests=2 * duplicates + 3, duplicated_effects=effects)


def test_duplicates_that_wait_get_the_first_response(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    duplicates = 32
    with serve_storefront(IDEMPOTENCY_WAIT=20) as server:
        shop = Shop(server.port)
        cart_id = shop.new_cart((HOODIE_L, 1))

        replies = fire_together(
            duplicates,
            lambda: shop.complete(cart_id, "dup-wait", **{"X-Storefront-Delay": "0.5"}),
        )

    # With a wait longer than the first takes, no duplicate answers 409.
    assert {reply.status for reply in replies} == {200}, outcomes(replies)
    the_one_original(replies)
    assert duplicated_effects(storefront, [cart_id]) == 0
    add_figures(figures, requests=duplicates + 2)


def test_hundreds_of_keys_each_with_duplicates_execute_once(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    carts = scaled(150, 1000)
    copies = 3
    with serve_storefront() as server:
        shop = Shop(server.port)
        with ThreadPoolExecutor(16) as pool:
            cart_ids = list(pool.map(lambda _: shop.new_cart((MUG, 1)), range(carts)))
            requests = [(cart_id, f"key-{cart_id}") for cart_id in cart_ids for _ in range(copies)]
            replies = list(pool.map(lambda request: shop.complete(*request), requests))
            finals = list(
                pool.map(lambda cart_id: shop.complete(cart_id, f"key-{cart_id}"), cart_ids)
            )

    for copies_of_one_key in (replies[at : at + copies] for at in range(0, len(replies), copies)):
        the_one_original(copies_of_one_key)
    lost = sum(not (reply.status == 200 and reply.replayed) for reply in finals)
    effects = duplicated_effects(storefront, cart_ids)
    assert (lost, effects, locks_left(storefront)) == (0, 0, 0)
    orders = {reply.json()["data"]["cart_id"] for reply in finals}
    assert orders == set(cart_ids)
    add_figures(
        figures, requests=carts * (2 + copies + 1), duplicated_effects=effects, lost_keys=lost
    )
