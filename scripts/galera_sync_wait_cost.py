"""What wsrep_sync_wait costs and what it buys, measured on the cluster of ``scripts/galera up``.

    scripts/galera up && .venv/bin/python scripts/galera_sync_wait_cost.py [--rounds 300]

The ledger app (tests/ledger_app.py) runs once per node in this process. Each round finishes a
new key on node 1, replays it on node 2 at once (the case causal reads are for), then replays an
older key on node 2 (a key long replicated: the plain cost of the wait), and makes a first request
on node 2; every round is done with wsrep_sync_wait = 0 and = 1, in a shuffled order, so that
the machine's noise falls on both alike. Prints the p50 and p99 of each and what the immediate
replays answered. ``--writers N`` keeps N connections writing to node 1 meanwhile (100-row
transactions), so that node 2 has a queue of replicated writes to apply, as under load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pymysql
import sqlalchemy as sa
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ledger_app import create_app, db

SERVER = "mysql+pymysql://galera:galera@127.0.0.1:{port}/{database}"
PORTS = {1: 4306, 2: 4307, 3: 4308}


def node_app(node: int, database: str, sync_wait: int, instance: Path) -> Flask:
    url = sa.make_url(SERVER.format(port=PORTS[node], database=database)).set(
        query={"init_command": f"SET SESSION wsrep_sync_wait = {sync_wait}"}
    )
    return create_app(url.render_as_string(hide_password=False), instance, TESTING=False)


def timed_post(app: Flask, key: str, amount: int) -> tuple[float, int, bool]:
    client = app.test_client()
    started = time.perf_counter()
    response = client.post("/charges", json={"amount": amount}, headers={"Idempotency-Key": key})
    elapsed = time.perf_counter() - started
    return elapsed, response.status_code, response.headers.get("Idempotent-Replayed") == "true"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--writers", type=int, default=0)
    arguments = parser.parse_args()
    rounds, writers = arguments.rounds, arguments.writers

    database = f"fi_sync_wait_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        SERVER.format(port=PORTS[1], database=""), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    try:
        with tempfile.TemporaryDirectory() as instance:
            apps = {
                wait: {node: node_app(node, database, wait, Path(instance)) for node in (1, 2)}
                for wait in (0, 1)
            }
            with apps[0][1].app_context():
                db.create_all()
            stop = threading.Event()
            background = [
                threading.Thread(target=write_until, args=(database, stop)) for _ in range(writers)
            ]
            for thread in background:
                thread.start()
            try:
                measure(apps, rounds)
            finally:
                stop.set()
                for thread in background:
                    thread.join()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {database}")
        admin.dispose()
    return 0


def write_until(database: str, stop: threading.Event) -> None:
    connection = pymysql.connect(
        host="127.0.0.1", port=PORTS[1], user="galera", password="galera", database=database
    )
    rows = ", ".join(["(1, 'background')"] * 100)
    with connection, connection.cursor() as cursor:
        while not stop.is_set():
            cursor.execute(f"INSERT INTO charge (amount, note) VALUES {rows}")
            connection.commit()


def measure(apps: dict[int, dict[int, Flask]], rounds: int) -> None:
    fresh_replay: dict[int, list[float]] = {0: [], 1: []}
    settled_replay: dict[int, list[float]] = {0: [], 1: []}
    first: dict[int, list[float]] = {0: [], 1: []}
    answers: dict[int, Counter[str]] = {0: Counter(), 1: Counter()}
    settled = {wait: f"settled-{wait}" for wait in (0, 1)}
    for wait in (0, 1):
        timed_post(apps[wait][1], settled[wait], 1)
    schedule = [wait for _ in range(rounds) for wait in (0, 1)]
    random.shuffle(schedule)
    for number, wait in enumerate(schedule):
        key = f"fresh-{number}"
        timed_post(apps[wait][1], key, 1)
        elapsed, status, replayed = timed_post(apps[wait][2], key, 1)
        fresh_replay[wait].append(elapsed)
        answers[wait]["replay" if replayed else str(status)] += 1
        settled_replay[wait].append(timed_post(apps[wait][2], settled[wait], 1)[0])
        first[wait].append(timed_post(apps[wait][2], f"first-{number}", 1)[0])

    print(f"{rounds} rounds per setting; milliseconds, p50 / p99")
    for wait in (0, 1):
        print(f"wsrep_sync_wait = {wait}:")
        for name, samples in (
            ("replay on node 2 of a key node 1 just finished", fresh_replay[wait]),
            ("replay on node 2 of a key finished long before", settled_replay[wait]),
            ("first request on node 2", first[wait]),
        ):
            p50 = statistics.median(samples) * 1000
            p99 = percentile(samples, 0.99) * 1000
            print(f"  {name}: {p50:.2f} / {p99:.2f}")
        print(f"  what the immediate replays answered: {dict(answers[wait])}")


if __name__ == "__main__":
    sys.exit(main())
