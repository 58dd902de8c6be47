"""The storefront under gunicorn, its app servers spread over the three nodes, completing many
carts while each completion's duplicates go to every server at once: one order per cart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from flask import Flask

from tests.galera.cluster import Cluster
from tests.galera.conftest import add_figures
from tests.galera.simultaneous import at_once
from tests.galera.storefront_nodes import storefront_servers
from tests.reliability.shop_client import (
    duplicated_effects,
    locks_left,
    outcomes,
    the_one_original,
)
from tests.served import Reply
from tests.storefront.conftest import MUG, TSHIRT_M

pytestmark = pytest.mark.galera

CARTS = 60


def test_duplicates_of_each_completion_sent_to_every_node_place_one_order(
    cluster: Cluster, storefront: Flask, storefront_database: str, tmp_path: Path
) -> None:
    with storefront_servers(cluster, storefront_database, tmp_path) as shops:

        def new_cart(number: int) -> str:
            return shops[number % 3].new_cart((TSHIRT_M, 1), (MUG, 2))

        def complete_everywhere(cart_id: str) -> list[Reply]:
            key = f"everywhere-{cart_id}"
            return at_once([partial(shop.complete, cart_id, key) for shop in shops])

        def retry(number: int, cart_id: str) -> Reply:
            return shops[number % 3].complete(cart_id, f"everywhere-{cart_id}")

        with ThreadPoolExecutor(4) as pool:
            cart_ids = list(pool.map(new_cart, range(CARTS)))
            raced = list(pool.map(complete_everywhere, cart_ids))
            # Every client that got a 409 retries; each gets the one order.
            finals = list(pool.map(retry, range(CARTS), cart_ids))

    for replies in raced:
        the_one_original(replies)
    lost = sum(not (reply.status == 200 and reply.replayed) for reply in finals)
    assert lost == 0, outcomes(finals)
    effects = duplicated_effects(storefront, cart_ids)
    left = locks_left(storefront)
    assert (effects, left) == (0, 0)
    assert {reply.json()["data"]["cart_id"] for reply in finals} == set(cart_ids)
    add_figures(
        requests=CARTS * (3 + 3 + 1), duplicated_effects=effects, lost_keys=lost, locks_left=left
    )
