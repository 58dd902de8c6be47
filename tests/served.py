"""Serving an app with gunicorn, four worker processes, for tests across real processes, and
talking to it over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    # The gunicorn master; its children are the workers.
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def serve(app: str, log_directory: Path, workers: int = 4, **environment: str) -> Iterator[Server]:
    """Run ``gunicorn -w workers app`` on a free port until the block ends."""

    port = free_port()
    log_path = log_directory / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", app]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {log_path.read_text()}") from None
                time.sleep(0.05)
        yield Server(port, process, log_path)
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def replayed(self) -> bool:
        return self.headers.get("Idempotent-Replayed") == "true"

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Reply:
    """One request to the served app, with ``body`` sent as JSON when given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        sent = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body)
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()
