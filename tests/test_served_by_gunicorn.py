"""Duplicates across real worker processes: the ledger served by gunicorn with four workers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers import charges, stored_keys
from tests.served import Reply, call, serve

pytestmark = pytest.mark.concurrency


def request(port: int, key: str, body: dict[str, int]) -> Reply:
    return call(port, "POST", "/charges?delay=1.5", body, {"Idempotency-Key": key})


@pytest.fixture
def server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[int]:
    with serve(
        "tests.served_ledger:app",
        tmp_path,
        LEDGER_DATABASE_URL=database_url,
        LEDGER_INSTANCE_PATH=str(tmp_path),
    ) as served:
        yield served.port


def test_32_simultaneous_duplicates_across_worker_processes_run_once(
    app: Flask, server: int
) -> None:
    duplicates = 32
    start = threading.Barrier(duplicates)

    def attempt(_: int) -> Reply:
        start.wait(timeout=10)
        return request(server, "across-processes", {"amount": 50})

    with ThreadPoolExecutor(duplicates) as pool:
        results = list(pool.map(attempt, range(duplicates)))

    # One ran; each other duplicate collided with it (409) or, scheduled after it finished,
    # replays it. How many did which depends on the machine's load, so only that is asserted.
    outcomes = Counter("replayed" if reply.replayed else reply.status for reply in results)
    assert outcomes[201] == 1, outcomes
    assert set(outcomes) <= {201, 409, "replayed"}, outcomes
    original = next(reply.body for reply in results if reply.status == 201 and not reply.replayed)
    assert all(reply.body == original for reply in results if reply.replayed)
    assert charges(app) == 1

    for _ in range(4):
        reply = request(server, "across-processes", {"amount": 50})
        assert (reply.status, reply.headers["Idempotent-Replayed"], reply.body) == (
            201,
            "true",
            original,
        )
    [key] = stored_keys(app)
    assert key.locked_at is None
