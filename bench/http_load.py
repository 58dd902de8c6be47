"""Over HTTP: the apps under gunicorn with four worker processes, and a small load generator.

The generator is Python's asyncio in the bench's own process: ``CONCURRENCY`` connections
each send one request, read the whole answer and send the next, for a slice of time. gunicorn's
default (sync) workers close the connection after each answer, so every request opens a new
one, as a browser's first request would. Latency is from connecting to the last byte of the
answer, queueing in gunicorn's backlog included. Slices of each kind alternate in a shuffled
order, round after round, so that the machine's noise falls on every kind alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .apps import DATABASE_URL_VARIABLE, STOREFRONT_PREFIX, TABLE_NAME_VARIABLE
from .inprocess import InProcessBench, Target
from .samples import Samples
from .storefront import completion_path

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(database_url: str, table_name: str, storefront: bool, log_path: Path) -> Iterator[int]:
    """``gunicorn -w 4 bench.apps:served()`` on a free port, until the block ends."""
    port = free_port()
    environment = {
        **os.environ,
        DATABASE_URL_VARIABLE: database_url,
        TABLE_NAME_VARIABLE: table_name,
        "BENCH_STOREFRONT": "1" if storefront else "0",
    }
    command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "bench.apps:served()"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"gunicorn did not start: {log_path.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)


def request_bytes(path: str, body: object, headers: dict[str, str]) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        f"Content-Length: {len(payload)}",
        *(["Content-Type: application/json"] if body is not None else []),
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def send(port: int, raw: bytes) -> tuple[float, str]:
    """One request; the seconds it took and its status line's code (and whether replayed)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        answer = await reader.read(-1)
    finally:
        writer.close()
    elapsed = time.perf_counter() - started
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = head[9:12]
    replayed = "\r\nidempotent-replayed: true" in head.lower()
    return elapsed, status + (" replayed" if replayed else "")


async def load_slice(
    port: int, next_request: Callable[[], bytes | None], seconds: float, samples: Samples
) -> list[str]:
    """Keep ``CONCURRENCY`` requests going for ``seconds`` (or until ``next_request`` has no
    more); adds to ``samples`` and returns every answer's status."""
    deadline = time.perf_counter() + seconds
    answers: list[str] = []

    async def connection() -> None:
        while time.perf_counter() < deadline:
            raw = next_request()
            if raw is None:
                return
            elapsed, answer = await send(port, raw)
            samples.latencies.append(elapsed)
            answers.append(answer)

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))
    samples.seconds += time.perf_counter() - started
    samples.completed += len(answers)
    return answers


EXPECTED = {"a": "201", "b": "201", "c": "201 replayed", "d": "409", "e": "200"}


class HttpBench:
    """Requests of each kind, made from what the in-process bench set up on the same
    database and key table: keys it finished (replays), the request it holds (409s), carts
    (completions)."""

    def __init__(
        self, port: int, inprocess: InProcessBench, target: Target, carts: list[str]
    ) -> None:
        self.port = port
        self.inprocess = inprocess
        self.target = target
        self.carts = carts
        self.rng = random.Random(2)
        self.kinds = ("a", "b", "c", "d") + (("e",) if target.storefront is not None else ())

    def next_request(self, kind: str) -> bytes | None:
        bench = self.inprocess
        if kind == "a":
            call = bench.new_call()
            return request_bytes("/bare", call.body, call.headers())
        if kind == "b":
            call = bench.new_call()
            return request_bytes("/keyed", call.body, call.headers())
        if kind == "c":
            call = self.rng.choice(self.target.finished)
            return request_bytes("/keyed", call.body, call.headers())
        if kind == "d":
            held = self.target.held
            assert held is not None
            return request_bytes("/keyed", held.body, held.headers())
        if not self.carts:
            return None
        path = STOREFRONT_PREFIX + completion_path(self.carts.pop())
        return request_bytes(path, None, {"Idempotency-Key": bench.new_call().key})

    def run(self, rounds: int, seconds: float, warmup_seconds: float) -> dict[str, Samples]:
        samples = {kind: Samples() for kind in self.kinds}
        order = list(self.kinds)
        for round_number in range(rounds + 1):
            self.rng.shuffle(order)
            for kind in order:
                warming = round_number == 0
                target = Samples() if warming else samples[kind]
                answers = asyncio.run(
                    load_slice(
                        self.port,
                        lambda kind=kind: self.next_request(kind),  # type: ignore[misc]
                        warmup_seconds if warming else seconds,
                        target,
                    )
                )
                if not warming:
                    for answer in answers:
                        if answer != EXPECTED[kind]:
                            target.unexpected[answer] += 1
        return samples
