"""A node SIGKILLed while the storefront completes carts on all three: requests on its
connections get 503, their retries on a live node resume from the last committed stage once the
dead requests' locks lapse, the survivors' pause while they evict the node takes over no live
request, and no cart is completed twice or left without its order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
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
from tests.galera.simultaneous import at_once
from tests.galera.storefront_nodes import (
    WORKERS_PER_SERVER,
    BalancedShop,
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
# The other clients, completing carts until the killed node's requests are recovered: each
# cart by three clients at once, one per app server, each retrying on the next server on a
# 409 or a 503; each completion takes a little while in its payment stage.
LOAD_CLIENTS = 6
LOAD_CARTS = 120
LOAD_DELAY = 0.3
# How long a victim's completion waits inside its payment stage, after its tax lines are
# committed: the node is killed meanwhile.
VICTIM_DELAY = 6

# A cart the load completed: its id and each of its three clients' replies, the last one the
# answer.
Completed = tuple[str, list[list[Reply]]]


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


def load_client(
    shops: list[BalancedShop], carts: list[str], stop: threading.Event
) -> list[Completed]:
    completed: list[Completed] = []
    for cart_id in carts:
        if stop.is_set():
            break
        clients = [
            partial(
                complete_retrying,
                shops,
                server,
                cart_id,
                f"load-{cart_id}",
                **{"X-Storefront-Delay": str(LOAD_DELAY)},
            )
            for server in range(3)
        ]
        completed.append((cart_id, at_once(clients)))
    return completed


def test_a_node_killed_under_load_loses_no_cart_and_completes_none_twice(
    cluster: Cluster, storefront: Flask, storefront_database: str, tmp_path: Path
) -> None:
    stop_load = threading.Event()
    with storefront_servers(
        cluster, storefront_database, tmp_path, IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT
    ) as shops:
        doomed, live = shops[KILLED - 1], shops[: KILLED - 1]
        with ThreadPoolExecutor(8) as pool:
            load_carts = list(
                pool.map(lambda number: shops[number % 3].new_cart((MUG, 1)), range(LOAD_CARTS))
            )
        victims = [doomed.new_cart((TSHIRT_M, 1), (HOODIE_L, 1)) for _ in range(WORKERS_PER_SERVER)]
        fresh = live[0].new_cart((MUG, 1))

        with ThreadPoolExecutor(LOAD_CLIENTS + WORKERS_PER_SERVER) as pool:
            load = [
                pool.submit(load_client, shops, load_carts[client::LOAD_CLIENTS], stop_load)
                for client in range(LOAD_CLIENTS)
            ]
            wait_until(lambda: orders_placed(storefront, load_carts) >= 6, "the load is going")
            # One victim per worker of the doomed node's server: it serves nothing else then.
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

            cluster.kill(KILLED)
            placed_at_kill = orders_placed(storefront, load_carts)

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
            stop_load.set()
            loaded = [completed for client in load for completed in client.result()]
        attempted = [cart_id for cart_id, _ in loaded]
        # Every key, once more, on a live node: each replays its one order.
        keys = [
            *((cart_id, f"load-{cart_id}") for cart_id in attempted),
            *((cart_id, f"victim-{cart_id}") for cart_id in victims),
            (fresh, f"fresh-{fresh}"),
        ]
        finals = [live[0].complete(cart_id, key) for cart_id, key in keys]

    # The load went on through the kill and the survivors' pause.
    assert placed_at_kill < orders_placed(storefront, attempted)
    for cart_id, replies in retried.items():
        assert {reply.status for reply in replies[:-1]} <= {409}, outcomes(replies)
        assert replies[-1].status == 200 and not replies[-1].replayed, replies[-1]
        assert tax_line_ids(storefront, cart_id) == committed_tax_lines[cart_id]
    assert fresh_replies[-1].status == 200 and not fresh_replies[-1].replayed
    # Each load cart's three clients: one ran the completion, two got its replay in the end,
    # and nothing any of them was told on the way was a 500.
    for _, clients in loaded:
        answers = [replies[-1] for replies in clients]
        assert [reply.status for reply in answers] == [200] * 3, outcomes(answers)
        assert sum(not reply.replayed for reply in answers) == 1, outcomes(answers)
        assert len({reply.body for reply in answers}) == 1
        for replies in clients:
            assert {reply.status for reply in replies} <= {200, 409, 503}, outcomes(replies)

    lost = sum(not (reply.status == 200 and reply.replayed) for reply in finals)
    effects = duplicated_effects(storefront, [*attempted, *victims, fresh])
    left = locks_left(storefront)
    assert (lost, effects, left) == (0, 0, 0), outcomes(finals)
    sent = sum(len(replies) for _, clients in loaded for replies in clients)
    sent += sum(len(replies) for replies in (*retried.values(), fresh_replies))
    add_figures(
        requests=sent + len(held) + 1 + len(finals),
        duplicated_effects=effects,
        lost_keys=lost,
        locks_left=left,
        node_kills_recovered=1,
    )
