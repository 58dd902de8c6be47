"""The storefront under gunicorn as three app servers, one per Galera node, as a shop that
outgrew one database server runs it: server N's workers all talk to node N. A client (or a load
balancer) may send each try of a request to any of them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.galera.cluster import NODES, Cluster
from tests.galera.polling import PATIENCE
from tests.reliability.shop_client import Shop
from tests.served import Reply, serve

WORKERS_PER_SERVER = 2
# The shop's public name. A load balancer passes on the Host the client asked for, and a key's
# fingerprint covers it: every app server sees this one, whichever port it listens on.
SHOP_HOST = "shop.example"


class BalancedShop(Shop):
    """One app server's port, reached as through the shop's load balancer."""

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        return super().call(method, path, body, {"Host": SHOP_HOST, **(headers or {})})


@contextmanager
def storefront_servers(
    cluster: Cluster, database: str, log_directory: Path, **settings: Any
) -> Iterator[list[BalancedShop]]:
    """``gunicorn -w 2 "example_app:create_app()"`` once per node, with fault injection on
    and ``FLASK_<name>`` settings from keyword arguments; ``shops[N - 1]`` talks to node N."""
    environment = {f"FLASK_{name}": str(value) for name, value in settings.items()}
    with ExitStack() as servers:
        shops = []
        for node in NODES:
            directory = log_directory / f"server-{node}"
            directory.mkdir()
            server = servers.enter_context(
                serve(
                    "example_app:create_app()",
                    directory,
                    workers=WORKERS_PER_SERVER,
                    FLASK_SQLALCHEMY_DATABASE_URI=cluster.url(node, database),
                    FLASK_STOREFRONT_FAULTS="true",
                    **environment,
                )
            )
            shops.append(BalancedShop(server.port))
        yield shops


def complete_retrying(
    shops: Sequence[Shop], first: int, cart_id: str, key: str, **headers: str
) -> list[Reply]:
    """A client completing a cart as a storefront does: on a 409 or a 503 it waits the
    Retry-After and tries again with the same key, each try on the next app server. Every
    reply, the last one the answer."""
    replies: list[Reply] = []
    deadline = time.monotonic() + PATIENCE
    server = first
    while True:
        reply = shops[server % len(shops)].complete(cart_id, key, **headers)
        replies.append(reply)
        if reply.status not in (409, 503):
            return replies
        assert time.monotonic() < deadline, f"no answer for {key} but {replies}"
        # The client's own schedule, not a wait for the server.
        time.sleep(float(reply.headers.get("Retry-After", "1")))
        server += 1
