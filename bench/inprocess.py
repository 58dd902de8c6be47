"""In-process measurement: the Flask test client, one request at a time, the kinds interleaved.

Each round sends one request of every kind to every target (a key table of one size), in a
shuffled order, so that whatever else the machine does at that moment falls on every kind and
every size alike and cancels out of the ratios. What is timed is the test client's call alone;
making a cart for (e), or choosing a key to replay, happens before the clock starts.
Statements are counted as they reach the database driver.
"""

from __future__ import annotations

import base64
import gc
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from .apps import HOLD_HEADER, db
from .samples import Samples
from .storefront import Storefront, completion_path

# Callers of the bench view: Basic users, so each has a scope of their own (as in fill.py).
USERS = 200
# Replays pick among the most recent finished keys.
REPLAY_POOL = 500


@dataclass(frozen=True)
class Call:
    """One idempotent request as a client would send it, so that it can be sent again."""

    key: str
    body: dict[str, Any]
    authorization: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization, "Idempotency-Key": self.key}


class StatementCounter:
    """Counts the statements sent on some engines."""

    def __init__(self, engines: list[sa.Engine]) -> None:
        self.count = 0
        self.engines = engines
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._record)


def basic(user: int) -> str:
    return "Basic " + base64.b64encode(f"user-{user}:secret".encode()).decode()


@dataclass
class Target:
    """The bench view and the storefront on the key table of one size."""

    size: int
    app: Flask
    storefront: Storefront | None
    client: FlaskClient = field(init=False)
    # Keys this target finished, for replays; the request it holds in flight, for 409s.
    finished: list[Call] = field(default_factory=list)
    held: Call | None = None
    held_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.client = self.app.test_client()

    @property
    def table_name(self) -> str:
        return str(self.app.config["IDEMPOTENCY_TABLE_NAME"])

    @property
    def engines(self) -> list[sa.Engine]:
        with self.app.app_context():
            engines = [db.engine]
        if self.storefront is not None:
            engines.append(self.storefront.engine)
        return engines


# A kind of request against a target: ("b", 1000) is a first request with 10^3 keys.
Kind = tuple[str, int]


class InProcessBench:
    """Requests of every kind against every target, interleaved. (a) never reads the key
    table, so it is measured once per round, against the first target's app."""

    def __init__(self, targets: list[Target], seed: int = 1) -> None:
        self.targets = {target.size: target for target in targets}
        self.smallest = targets[0]
        self.rng = random.Random(seed)
        self.authorizations = [basic(user) for user in range(USERS)]
        self.counter = StatementCounter([e for target in targets for e in target.engines])

    def kinds(self, sizes: list[int] | None = None) -> list[Kind]:
        found: list[Kind] = [("a", self.smallest.size)]
        for size in sizes or list(self.targets):
            target = self.targets[size]
            found += [(name, size) for name in ("b", "c", "d")]
            if target.storefront is not None:
                found.append(("e", size))
        return found

    def new_call(self) -> Call:
        return Call(
            key=str(uuid.uuid4()),
            body={"amount": self.rng.randint(1, 9999), "currency": "eur"},
            authorization=self.rng.choice(self.authorizations),
        )

    # The requests held in flight, whose duplicates are (d) -----------------------------------

    def hold(self) -> None:
        """Send, to every target, a request that stays inside the view until ``release``."""
        for target in self.targets.values():
            held = target.held = self.new_call()
            app = target.app
            app.config["BENCH_HELD"].clear()
            app.config["BENCH_HOLD"].clear()

            def send(app: Flask = app, held: Call = held) -> None:
                app.test_client().post(
                    "/keyed", json=held.body, headers={**held.headers(), HOLD_HEADER: "1"}
                )

            target.held_thread = threading.Thread(target=send, name="held", daemon=True)
            target.held_thread.start()
            if not app.config["BENCH_HELD"].wait(timeout=60):
                raise RuntimeError("the held request never reached the view")

    def release(self) -> None:
        for target in self.targets.values():
            target.app.config["BENCH_HOLD"].set()
            if target.held_thread is not None:
                target.held_thread.join(timeout=60)
            target.held_thread = None

    # One request of each kind ----------------------------------------------------------------

    def prepare(self, kind: Kind) -> tuple[Callable[[], TestResponse], Callable[[Any], str]]:
        """What to send for ``kind`` (timed), and the check of its answer (not timed), which
        names what was wrong, or is empty."""
        name, size = kind
        target = self.targets[size]
        client = target.client
        if name == "a":
            call = self.new_call()
            return (
                lambda: client.post("/bare", json=call.body, headers=call.headers()),
                lambda response: expect(response, 201),
            )
        if name == "b":
            call = self.new_call()

            def first_checked(response: TestResponse) -> str:
                problem = expect(response, 201, replayed=False)
                if not problem:
                    target.finished.append(call)
                    del target.finished[:-REPLAY_POOL]
                return problem

            return (
                lambda: client.post("/keyed", json=call.body, headers=call.headers()),
                first_checked,
            )
        if name == "c":
            source = self.replay_source(target)
            if not source.finished:
                self.warm_replays(source)
            call = self.rng.choice(source.finished)
            return (
                lambda: client.post("/keyed", json=call.body, headers=call.headers()),
                lambda response: expect(response, 201, replayed=True),
            )
        if name == "d":
            held = target.held
            assert held is not None, "hold() first"
            return (
                lambda: client.post("/keyed", json=held.body, headers=held.headers()),
                lambda response: expect(response, 409),
            )
        if name == "e":
            storefront = target.storefront
            assert storefront is not None
            path = completion_path(storefront.new_cart())
            key = {"Idempotency-Key": str(uuid.uuid4())}
            return (
                lambda: storefront.client.post(path, headers=key),
                lambda response: expect(response, 200, replayed=False),
            )
        raise ValueError(kind)

    def replay_source(self, target: Target) -> Target:
        """The target whose finished keys ``target`` replays: its own, unless a bench that
        spreads requests over servers says otherwise."""
        return target

    def warm_replays(self, target: Target, count: int = 20) -> None:
        for _ in range(count):
            send, check = self.prepare(("b", target.size))
            problem = check(send())
            if problem:
                raise RuntimeError(f"a first request failed: {problem}")

    def run(
        self,
        kinds: list[Kind],
        iterations: int,
        warmup: int = 0,
        until: Callable[[], bool] | None = None,
    ) -> dict[Kind, Samples]:
        """``iterations`` rounds of one request of each kind, after ``warmup`` rounds not
        counted; with ``until``, rounds go on until it says stop (``iterations`` is then the
        least)."""
        samples = {kind: Samples() for kind in kinds}
        order = list(kinds)
        gc.collect()
        iteration = 0
        while iteration < warmup + iterations or (until is not None and not until()):
            self.rng.shuffle(order)
            for kind in order:
                send, check = self.prepare(kind)
                statements_before = self.counter.count
                started = time.perf_counter()
                response = send()
                elapsed = time.perf_counter() - started
                statements = self.counter.count - statements_before
                problem = check(response)
                if iteration < warmup:
                    continue
                found = samples[kind]
                found.latencies.append(elapsed)
                found.statements.append(statements)
                if problem:
                    found.unexpected[problem] += 1
            iteration += 1
        return samples

    def close(self) -> None:
        self.release()
        self.counter.close()


def expect(response: TestResponse, status: int, replayed: bool | None = None) -> str:
    if response.status_code != status:
        return str(response.status_code)
    if replayed is not None and (response.headers.get("Idempotent-Replayed") == "true") != replayed:
        return "replayed" if not replayed else "not replayed"
    return ""
