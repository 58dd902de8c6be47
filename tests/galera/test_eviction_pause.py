"""When a node dies, the survivors hold every COMMIT for about 6 s until they evict it. A stage
that was committing then commits with a lock as old as that pause, so with a lock timeout
shorter than the pause a retry may take over a request that is alive. The fence holds: the
request that lost its key answers 409 LockLost, never a 500, and nothing happens twice. (Hence
the advice to keep the lock timeout above the pause.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.test import TestResponse

from tests.galera.cluster import Cluster
from tests.galera.conftest import NodeApps, add_figures
from tests.galera.ledger_nodes import hold, is_problem, post
from tests.galera.polling import wait_until
from tests.helpers import effects

pytestmark = pytest.mark.galera

STAGES = ("reserved", "charged", "shipped")
# Shorter than the pause, as the storefront's own default of 2 s is.
LOCK_TIMEOUT = 2


def test_a_request_stalled_by_a_nodes_eviction_and_taken_over_is_fenced(
    node_apps: NodeApps, cluster: Cluster
) -> None:
    apps = node_apps(IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT)
    charging = hold(apps[0], "charged")
    shipping = hold(apps[0], "shipped")
    retries: list[TestResponse] = []
    with ThreadPoolExecutor(1) as pool:
        stalled = pool.submit(post, apps[0], "/orders/evicted", "evicted")
        assert charging.entered.wait(30)

        cluster.kill(3)
        # Its second stage commits into the survivors' pause; then it waits before its third.
        charging.release.set()
        assert shipping.entered.wait(60)

        # A client retrying on node 2: the lock that the stalled stage committed is already
        # older than the lock timeout, or soon is, and a retry takes the key over.
        def retried() -> bool:
            retries.append(post(apps[1], "/orders/evicted", "evicted"))
            return retries[-1].status_code != 409

        wait_until(retried, "the retry took the key over")
        shipping.release.set()
        fenced = stalled.result()

    assert retries[-1].status_code == 200 and not retries[-1].headers.get("Idempotent-Replayed")
    assert is_problem(fenced, 409, "lock-lost"), fenced.data
    assert effects(apps[1], "evicted") == dict.fromkeys(STAGES, 1)
    replay = post(apps[0], "/orders/evicted", "evicted")
    assert (replay.headers["Idempotent-Replayed"], replay.data) == ("true", retries[-1].data)
    add_figures(requests=len(retries) + 2, node_kills_recovered=1)
