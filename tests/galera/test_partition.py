"""A node cut off from the others (a network partition) leaves the primary component and
refuses every query with error 1047 until it rejoins. Requests through it get 503, never a 500:
a new one before it claims anything, one in the middle of its stages with its committed stages
kept, which a retry on a node of the primary component resumes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.galera.cluster import Cluster
from tests.galera.conftest import NodeApps, add_figures
from tests.galera.ledger_nodes import age_lock, hold, is_problem, key_row, post
from tests.galera.polling import wait_until
from tests.helpers import effects

pytestmark = pytest.mark.galera

STAGES = ("reserved", "charged", "shipped")
CUT_OFF = 3


@pytest.fixture
def partition(cluster: Cluster) -> Iterator[None]:
    """The test cuts node 3 off with ``cluster.isolate``; it rejoins at the end."""
    yield
    cluster.reconnect(CUT_OFF)
    wait_until(lambda: cluster.alive(CUT_OFF), "the node rejoined")


def test_a_node_outside_the_primary_component_answers_503_and_its_work_resumes_elsewhere(
    node_apps: NodeApps, cluster: Cluster, partition: None
) -> None:
    apps = node_apps(IDEMPOTENCY_LOCK_TIMEOUT=30)
    cut_off = apps[CUT_OFF - 1]
    gate = hold(cut_off, "charged")
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(post, cut_off, "/orders/partitioned", "partitioned")
        assert gate.entered.wait(30)

        cluster.isolate(CUT_OFF)
        wait_until(lambda: not cluster.ready(CUT_OFF), "the node left the primary component")

        refused = post(cut_off, "/orders/unclaimed", "unclaimed")
        assert is_problem(refused, 503, "database-unavailable"), refused.data
        assert int(refused.headers["Retry-After"]) >= 1

        gate.release.set()
        stranded = held.result()
    assert is_problem(stranded, 503, "database-unavailable"), stranded.data

    # The cut-off node could not be told to release the key: it stays locked where its first
    # stage committed until the lock timeout, here passed by the database's clock.
    key = key_row(apps[0], "partitioned")
    assert key.completed_stages == ["reserved"] and key.locked_at is not None
    age_lock(apps[0], "partitioned", seconds=60)
    resumed = post(apps[0], "/orders/partitioned", "partitioned")
    assert resumed.status_code == 200, resumed.data
    assert effects(apps[1], "partitioned") == dict.fromkeys(STAGES, 1)

    never_begun = post(apps[1], "/orders/unclaimed", "unclaimed")
    assert never_begun.status_code == 200, never_begun.data
    assert effects(apps[0], "unclaimed") == dict.fromkeys(STAGES, 1)
    add_figures(requests=5)
