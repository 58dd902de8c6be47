"""A node SIGKILLed while the storefront completes carts on all three: requests on its
connections get 503, their retries on a live node resume from the last committed stage once the
dead requests' locks lapse, the survivors' pause while they evict the node takes over no live
request, and no cart is completed twice or left without its order."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from example_app.extensions import db
from example_app.models import Order, TaxLine
from tests.galera.cluster import Cluster
from tests.galera.conftest import add_figures
from tests.galera.polling import wait_until
from tests.galera.storefront_nodes import (
    WORKERS_PER_SERVER,
    complete_retrying,
    storefront_servers,
)
from tests.reliability.shop_client import duplicated_effects, locks_left, outcomes
from tests.served import Reply
from tests.storefront.conftest import HOODIE_L, MUG, TSHIRT_M

pytestmark = pytest.mark.galera

# The survivors hold every COMMIT for about 6 s while they evict a killed node (Galera's
# evs.suspect_timeout, 5 s, and the view change after it). A lock timeout above that pause lets
# no retry take over a request that is only waiting for it.
LOCK_TIMEOUT = 10
KILLED = 3
# Carts completed by the other clients meanwhile, each by three clients at once.
LOAD_CARTS = 30
# How long a victim's completion waits inside its payment stage, after its tax lines are
# committed: the node is killed meanwhile.
VICTIM_DELAY = 6


def tax_line_ids(storefront: Flask, cart_id: str) -> set[str]:
    with storefront.app_context():
        ids = set(db.session.scalars(select(TaxLine.id).where(TaxLine.cart_id == cart_id)))
        db.session.remove()
    return ids


def tax_lines_committed(storefront: Flask, cart_id: str) -> bool:
    """The completion's first stage has committed: a tax line for each of the cart's two line
    items and for its shipping."""
    return len(tax_line_ids(storefront, cart_id)) == 3


def orders_placed(storefront: Flask, cart_ids: list[str]) -> int:
    with storefront.app_context():
        number = db.session.scalar(
            select(func.count()).select_from(Order).where(Order.cart_id.in_(cart_ids))
        )
        db.session.remove()
    return int(number or 0)


def test_a_node_killed_under_load_loses_no_cart_and_completes_none_twice(
    cluster: Cluster, storefront: Flask, storefront_database: str, tmp_path: Path
) -> None:
    with storefront_servers(
        cluster, storefront_database, tmp_path, IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT
    ) as shops:
        doomed, live = shops[KILLED - 1], shops[: KILLED - 1]
        load_carts = [shops[number % 3].new_cart((MUG, 1)) for number in range(LOAD_CARTS)]
        # One victim per worker of the doomed node's server: it serves nothing else then.
        victims = [doomed.new_cart((TSHIRT_M, 1), (HOODIE_L, 1)) for _ in range(WORKERS_PER_SERVER)]
        fresh = live[0].new_cart((MUG, 1))

        with ThreadPoolExecutor(WORKERS_PER_SERVER + 3 * LOAD_CARTS) as pool:
            held = [
                pool.submit(
                    doomed.complete,
                    cart_id,
                    f"victim-{cart_id}",
                    **{"X-Storefront-Delay": str(VICTIM_DELAY)},
                )
                for cart_id in victims
            ]
            for cart_id in victims:
                wait_until(partial(tax_lines_committed, storefront, cart_id), "tax lines")
            committed_tax_lines = {
                cart_id: tax_line_ids(storefront, cart_id) for cart_id in victims
            }
            load: list[Future[list[Reply]]] = [
                pool.submit(complete_retrying, shops, copy, cart_id, f"load-{cart_id}")
                for cart_id in load_carts
                for copy in range(3)
            ]
            wait_until(lambda: orders_placed(storefront, load_carts) >= 3, "the load is going")

            cluster.kill(KILLED)

            # The victims' stage could not commit on the dead node: 503, and the key stays
            # locked there, since the dead node cannot be told to release it.
            for victim in held:
                reply = victim.result()
                assert reply.status == 503, reply
                assert reply.headers["Content-Type"] == "application/problem+json", reply
                assert int(reply.headers["Retry-After"]) >= 1
            # A request the doomed server takes now: 503 too, and nothing begun.
            refused = doomed.complete(fresh, f"fresh-{fresh}")
            assert refused.status == 503, refused

            # Retried on live nodes: 409 while the dead requests' locks are younger than the
            # lock timeout, then each resumes after its committed first stage.
            retried = {
                cart_id: complete_retrying(live, 0, cart_id, f"victim-{cart_id}")
                for cart_id in victims
            }
            fresh_replies = complete_retrying(live, 1, fresh, f"fresh-{fresh}")
            loaded = [future.result() for future in load]
        # Every key, once more, on a live node: each replays its one order.
        finals = [
            live[0].complete(cart_id, key) for cart_id, key in keys_of(load_carts, victims, fresh)
        ]

    for cart_id, replies in retried.items():
        assert {reply.status for reply in replies[:-1]} <= {409}, outcomes(replies)
        assert replies[-1].status == 200 and not replies[-1].replayed, replies[-1]
        assert tax_line_ids(storefront, cart_id) == committed_tax_lines[cart_id]
    assert fresh_replies[-1].status == 200 and not fresh_replies[-1].replayed
    # Each load cart's three clients: one ran the completion, two got its replay in the end.
    load_answers = [replies[-1] for replies in loaded]
    for at in range(0, len(load_answers), 3):
        answers = load_answers[at : at + 3]
        assert [reply.status for reply in answers] == [200] * 3, outcomes(answers)
        assert sum(not reply.replayed for reply in answers) == 1, outcomes(answers)
        assert len({reply.body for reply in answers}) == 1
    assert all(reply.status in (200, 409, 503) for replies in loaded for reply in replies)

    everything = [*load_carts, *victims, fresh]
    lost = sum(not (reply.status == 200 and reply.replayed) for reply in finals)
    effects = duplicated_effects(storefront, everything)
    left = locks_left(storefront)
    assert (lost, effects, left) == (0, 0, 0), outcomes(finals)
    add_figures(
        requests=sum(len(replies) for replies in (*loaded, *retried.values(), fresh_replies))
        + len(held)
        + 1
        + len(finals),
        duplicated_effects=effects,
        lost_keys=lost,
        locks_left=left,
        node_kills_recovered=1,
    )


def keys_of(load_carts: list[str], victims: list[str], fresh: str) -> list[tuple[str, str]]:
    return [
        *((cart_id, f"load-{cart_id}") for cart_id in load_carts),
        *((cart_id, f"victim-{cart_id}") for cart_id in victims),
        (fresh, f"fresh-{fresh}"),
    ]
