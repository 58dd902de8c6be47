"""A request that outlives the lock timeout is taken over by a retry, and its late commit is
refused (fencing): the work happens once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from tests.reliability.conftest import Figures, ServeStorefront, add_figures, scaled
from tests.reliability.shop_client import Shop, duplicated_effects, locks_left, orders_of

LOCK_TIMEOUT = 1


def test_a_request_that_outlives_its_lock_is_taken_over_and_cannot_commit(
    storefront: Flask, serve_storefront: ServeStorefront, database_kind: str, figures: Figures
) -> None:
    rounds = scaled(2, 10)
    cart_ids: list[str] = []
    requests = 0
    with serve_storefront(IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT) as server:
        shop = Shop(server.port)
        for number in range(rounds):
            cart_id = shop.new_cart(("prod_hoodie", 1))
            cart_ids.append(cart_id)
            key = f"slow-{number}"
            with ThreadPoolExecutor(1) as pool:
                # Sleeps inside payment_authorized for three lock timeouts.
                slow = pool.submit(
                    shop.complete, cart_id, key, **{"X-Storefront-Delay": str(3 * LOCK_TIMEOUT)}
                )
                # Start retrying only once the slow request holds the key, inside its
                # payment stage (its tax lines have committed).
                deadline = time.monotonic() + 10 * LOCK_TIMEOUT
                while shop.call("GET", f"/admin/carts/{cart_id}/audit").json()["tax_lines"] != 1:
                    assert time.monotonic() < deadline, "the slow request never got going"
                    time.sleep(0.02)
                while True:
                    takeover = shop.complete(cart_id, key)
                    requests += 1
                    if takeover.status != 409 or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                late = slow.result()
            requests += 4

            assert takeover.status == 200, takeover
            if database_kind == "sqlite":
                # One writer: the retry's claim waits until the slow request commits a stage.
                # It may then take the key over (the slow one's last step is refused), or find
                # the slow one already finished and replay its order.
                assert late.status == 409 or (late.status == 200 and late.body == takeover.body)
            else:
                assert late.status == 409, late
                assert late.headers["Content-Type"] == "application/problem+json"
                assert b"lock-lost" in late.body
            replay = shop.complete(cart_id, key)
            assert replay.replayed and replay.body == takeover.body
            assert orders_of(storefront, cart_id) == 1

    effects = duplicated_effects(storefront, cart_ids)
    assert effects == 0
    assert locks_left(storefront) == 0
    add_figures(figures, requests=requests, duplicated_effects=effects)
