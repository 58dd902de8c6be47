"""``python -m bench``: measure, print the tables and the targets, save the results and the plot.

For each database in turn: a fresh database with one key table per size, each filled to its
size, and the bench app and the storefront on each; a request held in flight on each, for (d);
the in-process measurement of every kind on every table, interleaved; over HTTP, on the
smallest table; last, the purge of the largest table's expired keys while requests go on (and,
on PostgreSQL, the same purge done by dropping a partition).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report
from .apps import create_bench_app, db
from .databases import KINDS, DatabaseUnavailable, ScratchDatabase, scratch_database
from .fill import add_keys, count_keys, table_bytes
from .http_load import CONCURRENCY, WORKERS, HttpBench, gunicorn
from .inprocess import InProcessBench, Kind, Target
from .machine import describe_machine
from .plot import plot
from .purge import measure_purge, partition_drop
from .samples import Samples
from .storefront import Storefront, StorefrontUnavailable

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    iterations: int
    warmup: int
    http_rounds: int
    http_seconds: float
    http_warmup_seconds: float
    purge_baseline_iterations: int


FULL = Plan((1_000, 100_000, 1_000_000), 1000, 50, 6, 2.0, 1.0, 600)
QUICK = Plan((1_000, 10_000), 150, 20, 2, 0.5, 0.3, 100)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure what flask-idempotency costs."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small tables (10^3, 10^4) and fewer iterations"
    )
    parser.add_argument(
        "--databases",
        default=",".join(KINDS),
        help="comma-separated, of sqlite, postgresql, mariadb (default: all three); the "
        "servers come from TEST_POSTGRESQL_URL and TEST_MARIADB_URL",
    )
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn measurement")
    parser.add_argument(
        "--iterations", type=int, help="interleaved rounds per in-process measurement"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where the results (bench.json) and the plot (bench.png) go "
        "(default: docs/, or bench/quick/ with --quick)",
    )
    arguments = parser.parse_args(argv)
    unknown = set(arguments.databases.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown databases: {', '.join(sorted(unknown))}")
    return arguments


def summaries(samples: dict[str, Samples]) -> dict[str, dict[str, Any]]:
    return {kind: found.summary() for kind, found in samples.items()}


def say(message: str) -> None:
    print(message, flush=True)


def measure_database(database: ScratchDatabase, plan: Plan, http: bool, logs: Path) -> dict:
    label = database.label
    found: dict[str, Any] = {"version": database.version, "inprocess": {}}
    targets: list[Target] = []
    for size in plan.sizes:
        # One key table per size, so that every size is measured in the same rounds.
        table_name = f"idempotency_key_{size}"
        storefront: Storefront | None = None
        if "storefront_skipped" not in found:
            try:
                storefront = Storefront(database.url, table_name)
            except StorefrontUnavailable as error:
                say(f"{label}: (e) left out, the storefront could not be set up: {error}")
                found["storefront_skipped"] = str(error)
        targets.append(Target(size, create_bench_app(database.url, table_name), storefront))
    with targets[0].app.app_context():
        db.create_all()
        engine = db.engine
    for target in targets:
        started = time.perf_counter()
        add_keys(engine, target.size - count_keys(engine, target.table_name), target.table_name)
        size = table_bytes(engine, target.table_name)
        found["table_bytes"] = size
        on_disk = f", {size / 2**20:,.0f} MiB with its indexes" if size else ""
        say(f"{label}: {target.size:,} keys in {time.perf_counter() - started:.1f} s{on_disk}")
    bench = InProcessBench(targets)
    bench.hold()
    try:
        samples = bench.run(bench.kinds(), plan.iterations, plan.warmup)
        for size in plan.sizes:
            found["inprocess"][str(size)] = {
                kind: found_samples.summary()
                for (kind, kind_size), found_samples in samples.items()
                if kind_size == size or kind == "a"
            }
        say(
            report.inprocess_table(
                label,
                found["inprocess"][str(plan.sizes[0])],
                f"in-process (Flask test client), {plan.iterations} interleaved rounds, "
                f"{report.size_label(plan.sizes[0])} keys in the table",
            )
        )
        if len(plan.sizes) > 1:
            say(report.scaling_table(label, found["inprocess"]))
        if http:
            found["http"] = measure_http(database, plan, bench, samples, logs)
        purge = measure_purge(database.url, bench, targets[-1], plan.purge_baseline_iterations)
        found["purge"] = {
            "deleted": purge.deleted,
            "seconds": purge.seconds,
            "rows_per_second": purge.rows_per_second,
            "baseline": {kind: value.summary() for (kind, _), value in purge.baseline.items()},
            "during": {kind: value.summary() for (kind, _), value in purge.during.items()},
        }
    finally:
        bench.close()
        for target in targets:
            with target.app.app_context():
                db.session.remove()
                db.engine.dispose()
            if target.storefront is not None:
                target.storefront.close()
    if database.kind == "postgresql":
        drop = partition_drop(engine, targets[-1].table_name, plan.sizes[-1])
        found["purge"]["partition_drop"] = {
            "rows": drop.rows,
            "seconds": drop.seconds,
            "detach_seconds": drop.detach_seconds,
            "drop_seconds": drop.drop_seconds,
        }
        engine.dispose()
    say(report.purge_table(label, found["purge"]))
    return found


def measure_http(
    database: ScratchDatabase,
    plan: Plan,
    bench: InProcessBench,
    inprocess: dict[Kind, Samples],
    logs: Path,
) -> dict[str, Any]:
    target = bench.smallest
    carts: list[str] = []
    if target.storefront is not None:
        # Enough carts for the slices of (e) at about the rate two cores complete them.
        seconds = plan.http_rounds * plan.http_seconds + plan.http_warmup_seconds
        needed = int(seconds * 2.5 / inprocess[("e", target.size)].p50) + 50
        started = time.perf_counter()
        carts = [target.storefront.new_cart() for _ in range(needed)]
        say(f"{database.label}: made {needed} carts in {time.perf_counter() - started:.1f} s")
    with gunicorn(
        database.url, target.table_name, target.storefront is not None, logs / "gunicorn.log"
    ) as port:
        samples = HttpBench(port, bench, target, carts).run(
            plan.http_rounds, plan.http_seconds, plan.http_warmup_seconds
        )
    found = summaries(samples)
    say(
        report.http_table(
            database.label,
            found,
            f"over HTTP, gunicorn -w {WORKERS}, {CONCURRENCY} connections from an asyncio "
            f"generator, {plan.http_rounds} rounds of {plan.http_seconds:g} s slices, "
            f"{report.size_label(target.size)} keys",
        )
    )
    return found


def main(argv: list[str] | None = None) -> int:
    arguments = parse(argv)
    plan = QUICK if arguments.quick else FULL
    if arguments.iterations:
        plan = Plan(**{**plan.__dict__, "iterations": arguments.iterations})
    output = arguments.output or (ROOT / ("bench/quick" if arguments.quick else "docs"))
    machine = describe_machine()
    say(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}; "
        f"{machine['system']}; Python {machine['python']}; SQLAlchemy {machine['sqlalchemy']}; "
        f"load average {machine['load_average_at_start']}"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": "make bench" + (" BENCH_ARGS=--quick" if arguments.quick else ""),
        "plan": plan.__dict__,
        "machine": machine,
        "databases": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        for kind in arguments.databases.split(","):
            try:
                with scratch_database(kind, Path(directory)) as database:
                    say(f"\n== {database.version}")
                    results["databases"][kind] = measure_database(
                        database, plan, not arguments.no_http, Path(directory)
                    )
            except DatabaseUnavailable as error:
                say(f"\n== {error}: left out")
    machine["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    machine["minutes"] = round((time.perf_counter() - started) / 60, 1)
    if not results["databases"]:
        say("No database could be measured.")
        return 1
    say("\n" + report.targets_table(results))
    output.mkdir(parents=True, exist_ok=True)
    (output / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
    (output / "bench.md").write_text(report.markdown_summary(results))
    plot(results, output / "bench.png")
    say(
        f"\n{machine['minutes']} minutes; load average at the end "
        f"{machine['load_average_at_end']}. Saved {output / 'bench.json'} and "
        f"{output / 'bench.png'} (and the README's table, {output / 'bench.md'})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
