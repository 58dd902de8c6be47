"""Duplicates across real worker processes: the ledger served by gunicorn with four workers."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers import charges, stored_keys
from tests.served import serve

pytestmark = pytest.mark.concurrency
ROOT = Path(__file__).resolve().parent.parent


def request(port: int, key: str, body: dict[str, int]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/charges?delay=1.5",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


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

    def attempt(_: int) -> tuple[int, dict[str, str], bytes]:
        start.wait(timeout=10)
        return request(server, "across-processes", {"amount": 50})

    with ThreadPoolExecutor(duplicates) as pool:
        results = list(pool.map(attempt, range(duplicates)))

    outcomes = Counter(
        "replayed" if headers.get("Idempotent-Replayed") else status
        for status, headers, _ in results
    )
    assert outcomes[201] == 1, outcomes
    assert set(outcomes) <= {201, 409, "replayed"}, outcomes
    assert outcomes[409] >= 1, outcomes  # the duplicates really overlapped the first
    assert charges(app) == 1

    original = next(
        body
        for status, headers, body in results
        if status == 201 and "Idempotent-Replayed" not in headers
    )
    for _ in range(4):
        status, headers, body = request(server, "across-processes", {"amount": 50})
        assert (status, headers["Idempotent-Replayed"], body) == (201, "true", original)
    [key] = stored_keys(app)
    assert key.locked_at is None
