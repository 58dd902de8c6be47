"""A request that outlives the lock timeout is taken over by a retry, and its late commit is
refused (fencing): the work happens once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from tests.reliability.conftest import Figures, ServeStorefront, add_figures, scaled
from tests.reliability.shop_client import (
    Shop,
    assert_in_flight,
    duplicated_effects,
    locks_left,
    orders_of,
)
from tests.storefront.conftest import HOODIE_L

LOCK_TIMEOUT = 1
# The slow request sleeps inside its payment stage for this long: the lock lapses after one
# second of it, and retries have the rest to take the key over.
SLOW_STAGE = 4 * LOCK_TIMEOUT
# Far beyond what any step takes on a loaded machine; it only bounds a test failing anyway.
PATIENCE = 60


def test_a_request_that_outlives_its_lock_is_taken_over_and_cannot_commit(
    storefront: Flask, serve_storefront: ServeStorefront, figures: Figures
) -> None:
    rounds = scaled(2, 10)
    cart_ids: list[str] = []
    requests = 0
    takeovers = 0
    with serve_storefront(IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT) as server:
        shop = Shop(server.port)
        for number in range(rounds):
            cart_id = shop.new_cart((HOODIE_L, 1))
            cart_ids.append(cart_id)
            key = f"slow-{number}"
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(
                    shop.complete, cart_id, key, **{"X-Storefront-Delay": str(SLOW_STAGE)}
                )
                # Start retrying only once the slow request holds the key, inside its
                # payment stage (its tax lines, the item's and the shipping's, have committed).
                deadline = time.monotonic() + PATIENCE
                while shop.audit(cart_id)["tax_lines"] != 2:
                    assert time.monotonic() < deadline, "the slow request never got going"
                    time.sleep(0.02)
                while True:
                    takeover = shop.complete(cart_id, key)
                    requests += 1
                    if takeover.status != 409:
                        break
                    assert_in_flight(takeover)
                    assert time.monotonic() < deadline, "the key was never taken over"
                    time.sleep(0.1)
                late = slow.result()
            requests += 4

            assert takeover.status == 200, takeover
            if takeover.replayed:
                # The slow request finished before a retry found its lock lapsed: a machine
                # loaded enough to delay every retry for seconds, or SQLite, where the retry's
                # claim waits for the single writer the slow stage holds. It committed, once.
                assert late.status == 200 and not late.replayed, late
                assert takeover.body == late.body
            else:
                # The retry took the key over and did the work: the slow request's late
                # commit was refused and rolled back.
                takeovers += 1
                assert late.status == 409, late
                assert late.headers["Content-Type"] == "application/problem+json"
                assert b"lock-lost" in late.body
            replay = shop.complete(cart_id, key)
            assert replay.replayed and replay.body == takeover.body
            assert orders_of(storefront, cart_id) == 1

    # Which way each round went depends on scheduling; say it, to show what the run tried.
    print(f"\nlost lock: {takeovers} of {rounds} slow requests taken over")
    effects = duplicated_effects(storefront, cart_ids)
    assert effects == 0
    assert locks_left(storefront) == 0
    add_figures(figures, requests=requests, duplicated_effects=effects)
