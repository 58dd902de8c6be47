"""``python -m bench.galera``: what idempotency costs on a three-node MariaDB Galera cluster,
beside the bare view on the same cluster.

The cluster is the one ``scripts/galera up`` starts, its nodes' URLs as ``scripts/galera urls``
prints them; with ``--start-cluster`` the bench starts it and stops it at the end. In a database
made for the run, the bench app (bench/apps.py) runs once per node in this process, every
connection with ``SET SESSION wsrep_sync_wait = 1`` (causal reads, as the Galera tests and the
README's advice have it). Two layouts are measured in the same interleaved rounds as the other
databases (bench/inprocess.py), so that the machine's noise falls on both alike:

- one node: the bare view (a), a first request (b) and a replay (c), all on node 1;
- three nodes: each request of a kind goes to the next node in turn, and a replay on node k+1
  is of a key first requested on node k, so that every replay crosses nodes.

Every figure is given with its ratio (p50) to the bare view of the same layout.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from . import report
from .apps import create_bench_app, db
from .databases import DatabaseUnavailable, scratch_database
from .inprocess import InProcessBench, Kind, Target
from .machine import describe_machine
from .samples import LABELS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "galera"
NODES = (1, 2, 3)
# What the in-process bench knows as a target's size is here which node it runs on; the
# one-node layout has a target of its own on node 1, so that its replays are of its own keys.
ONE_NODE = 0
# The three-node layout's kinds name no node: each request goes to the next one in turn.
SPREAD = -1
LAYOUTS = {"one_node": ONE_NODE, "three_nodes": SPREAD}
LAYOUT_LABELS = {"one_node": "one node", "three_nodes": "three nodes, in turn"}
KIND_NAMES = ("a", "b", "c")
SYNC_WAIT = 1
TABLE_NAME = "idempotency_key"
WARMUP = 50
# The Galera tests hold this lock for as long as their cluster runs: a bench that starts its
# own waits for them, rather than have `up` take their cluster for a stale one and stop it.
LOCK_PATH = Path(os.environ.get("GALERA_DIR", "/tmp/flask-idempotency-galera") + ".lock")
LOCK_PATIENCE_SECONDS = 600

METHOD = (
    "in-process (Flask test client), the bench app once per node in one process, every "
    "connection with SET SESSION wsrep_sync_wait = {sync_wait}; both layouts in the same "
    "interleaved rounds: one node = (a), (b), (c) on node 1; three nodes = each request of a "
    "kind on the next node in turn, a replay on node k+1 of a key first requested on node k "
    "(one of its latest 500)"
)


class ClusterUnavailable(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


class SpreadBench(InProcessBench):
    """The in-process bench over the targets ONE_NODE and 1, 2, 3 (one per node), with the
    kinds of the three-node layout sent to the nodes in turn."""

    def __init__(self, targets: list[Target]) -> None:
        super().__init__(targets)
        self.turns: Counter[str] = Counter()

    def kinds(self, sizes: list[int] | None = None) -> list[Kind]:
        return [(name, layout) for layout in LAYOUTS.values() for name in KIND_NAMES]

    def prepare(self, kind: Kind) -> tuple[Callable[[], TestResponse], Callable[[Any], str]]:
        name, layout = kind
        if layout != SPREAD:
            return super().prepare(kind)
        node = NODES[self.turns[name] % len(NODES)]
        self.turns[name] += 1
        return super().prepare((name, node))

    def replay_source(self, target: Target) -> Target:
        if target.size == ONE_NODE:
            return target
        # Node k + 1 replays node k's keys, node 1 node 3's.
        return self.targets[NODES[NODES.index(target.size) - 1]]


def node_urls() -> list[str]:
    done = subprocess.run([str(SCRIPT), "urls"], capture_output=True, text=True, check=True)
    return done.stdout.split()


def on_node(server: str, database: str, sync_wait: int) -> str:
    url = make_url(server).set(
        database=database,
        query={"init_command": f"SET SESSION wsrep_sync_wait = {sync_wait}"},
    )
    return url.render_as_string(hide_password=False)


def wsrep_status(server: str) -> dict[str, str]:
    engine = sa.create_engine(server)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'wsrep_%%'").all()
    except sa.exc.OperationalError as error:
        raise ClusterUnavailable(
            f"{make_url(server).render_as_string()} is unreachable ({error.orig}): "
            "start the cluster with scripts/galera up, or pass --start-cluster"
        ) from None
    finally:
        engine.dispose()
    return {str(name): str(value) for name, value in rows}


def check_cluster(servers: list[str]) -> dict[str, Any]:
    """What the run's JSON says of the cluster; every node must be Synced in a cluster of
    three."""
    statuses = [wsrep_status(server) for server in servers]
    for node, status in zip(NODES, statuses, strict=True):
        state = status.get("wsrep_local_state_comment")
        size = status.get("wsrep_cluster_size")
        if state != "Synced" or size != str(len(NODES)):
            raise ClusterUnavailable(f"node {node} is {state}, in a cluster of {size}")
    return {
        "nodes": len(NODES),
        "galera": statuses[0].get("wsrep_provider_version", "?"),
    }


@contextmanager
def started_cluster() -> Iterator[None]:
    """``scripts/galera up`` now and ``down`` at the end, failed or not, holding the lock the
    Galera tests hold."""
    with LOCK_PATH.open("a") as lock:
        deadline = time.monotonic() + LOCK_PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterUnavailable(
                        f"{LOCK_PATH} has been held for {LOCK_PATIENCE_SECONDS} s"
                    ) from None
                time.sleep(1)
        try:
            say("starting the cluster (scripts/galera up)")
            subprocess.run([str(SCRIPT), "up"], stdout=subprocess.DEVNULL, check=True)
            yield
        finally:
            say("stopping the cluster (scripts/galera down)")
            subprocess.run([str(SCRIPT), "down"], check=False)
            fcntl.flock(lock, fcntl.LOCK_UN)


def measure(servers: list[str], iterations: int, warmup: int, sync_wait: int) -> dict[str, Any]:
    cluster = check_cluster(servers)
    try:
        with scratch_database(
            "mariadb", Path(tempfile.gettempdir()), server=servers[0]
        ) as database:
            cluster.update(version=database.version, wsrep_sync_wait=sync_wait)
            name = make_url(database.url).database or ""
            urls = [on_node(server, name, sync_wait) for server in servers]
            return {"cluster": cluster, "layouts": measure_layouts(urls, iterations, warmup)}
    except DatabaseUnavailable as error:
        raise ClusterUnavailable(str(error)) from None


def measure_layouts(urls: list[str], iterations: int, warmup: int) -> dict[str, Any]:
    """Both layouts' figures, by layout and kind; ``urls[N - 1]`` is node N's."""
    apps = {ONE_NODE: create_bench_app(urls[0], TABLE_NAME)}
    for node, url in zip(NODES, urls, strict=True):
        apps[node] = create_bench_app(url, TABLE_NAME)
    with apps[ONE_NODE].app_context():
        db.create_all()
    bench = SpreadBench([Target(place, app, None) for place, app in apps.items()])
    try:
        samples = bench.run(bench.kinds(), iterations, warmup)
    finally:
        bench.close()
        for app in apps.values():
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    return {
        layout: {name: samples[(name, place)].summary() for name in KIND_NAMES}
        for layout, place in LAYOUTS.items()
    }


def markdown_table(results: dict[str, Any]) -> str:
    """A column per layout; each figure with its multiple of that layout's bare view."""
    layouts = results["layouts"]
    lines = [
        "| | " + " | ".join(LAYOUT_LABELS[layout] for layout in layouts) + " |",
        "|---" * (len(layouts) + 1) + "|",
    ]
    for kind in KIND_NAMES:
        cells = []
        for figures in layouts.values():
            value = figures[kind]["p50_ms"]
            ratio = report.ratio(value, figures["a"]["p50_ms"])
            cells.append(f"{value:.2f} ms" if kind == "a" else f"{value:.2f} ms ({ratio})")
        label = LABELS[kind].replace("@idempotent", "`@idempotent`")
        lines.append(f"| {label}{': p50' if kind == 'a' else ''} | " + " | ".join(cells) + " |")
    statements = [
        " / ".join(str(figures[kind]["statements"]) for kind in "bc")
        for figures in layouts.values()
    ]
    lines.append("| statements: (b) / (c) | " + " | ".join(statements) + " |")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.galera",
        description="Measure what flask-idempotency costs on the three-node Galera cluster "
        "of scripts/galera, on one node and spread over the three.",
    )
    parser.add_argument(
        "--iterations", type=int, default=1000, help="interleaved rounds (default: 1000)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "docs",
        help="where the results (bench-galera.json) go (default: docs/)",
    )
    parser.add_argument(
        "--start-cluster",
        action="store_true",
        help="start the cluster with scripts/galera up and stop it at the end (else it must "
        "be running)",
    )
    parser.add_argument(
        "--sync-wait",
        type=int,
        default=SYNC_WAIT,
        help="wsrep_sync_wait on every connection (default: 1, causal reads)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse(argv)
    machine = describe_machine()
    started = time.perf_counter()
    try:
        with started_cluster() if arguments.start_cluster else nullcontext():
            found = measure(node_urls(), arguments.iterations, WARMUP, arguments.sync_wait)
    except ClusterUnavailable as error:
        say(f"Galera cluster unavailable: {error}")
        return 1
    machine["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    machine["minutes"] = round((time.perf_counter() - started) / 60, 1)
    method = METHOD.format(sync_wait=arguments.sync_wait)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.galera", *(argv or sys.argv[1:])]),
        "plan": {"iterations": arguments.iterations, "warmup": WARMUP},
        "method": method,
        "machine": machine,
        **found,
    }
    cluster = results["cluster"]
    say(
        f"\n== {cluster['version']}, Galera {cluster['galera']}, {cluster['nodes']} nodes; "
        f"{method}; {arguments.iterations} rounds"
    )
    for layout, figures in results["layouts"].items():
        say(report.inprocess_table(f"Galera, {LAYOUT_LABELS[layout]}", figures, "p50 and p99"))
    say(
        f"\nIn-process p50 with its multiple of (a) on the same layout; every connection with "
        f"wsrep_sync_wait = {arguments.sync_wait}:\n\n{markdown_table(results)}"
    )
    arguments.output.mkdir(parents=True, exist_ok=True)
    saved = arguments.output / "bench-galera.json"
    saved.write_text(json.dumps(results, indent=1) + "\n")
    say(
        f"{machine['minutes']} minutes; load average at the start "
        f"{machine['load_average_at_start']}, at the end {machine['load_average_at_end']}. "
        f"Saved {saved}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
