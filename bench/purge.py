"""``flask idempotency purge`` of the expired keys, with requests going on meanwhile; and, on
PostgreSQL, the same number of keys purged by dropping a partition instead.

The purge runs as cron would run it: its own process, the CLI command as shipped, in batches
of ``IDEMPOTENCY_PURGE_BATCH_SIZE``. Its rate counts the command's whole run, start-up
included. The requests are the in-process bench's (a), (b) and (c), interleaved: first a
baseline with no purge, then for as long as the purge runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .apps import DATABASE_URL_VARIABLE, TABLE_NAME_VARIABLE
from .fill import add_keys
from .http_load import ROOT
from .inprocess import InProcessBench, Kind, Target
from .samples import Samples


@dataclass
class PurgeResult:
    deleted: int
    seconds: float
    baseline: dict[Kind, Samples]
    during: dict[Kind, Samples]

    @property
    def rows_per_second(self) -> float:
        return self.deleted / self.seconds


def measure_purge(
    database_url: str, bench: InProcessBench, target: Target, baseline_iterations: int
) -> PurgeResult:
    """Purge the target's key table; the requests meanwhile are (a), and (b) and (c) on it."""
    kinds: list[Kind] = [("a", bench.smallest.size), ("b", target.size), ("c", target.size)]
    baseline = bench.run(kinds, baseline_iterations)
    command = [sys.executable, "-m", "flask", "--app", "bench.apps:bench_app_from_environment"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "idempotency", "purge"],
        cwd=ROOT,
        env={
            **os.environ,
            DATABASE_URL_VARIABLE: database_url,
            TABLE_NAME_VARIABLE: target.table_name,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    finished: list[float] = []

    def purge_done() -> bool:
        if process.poll() is None:
            return False
        if not finished:
            finished.append(time.perf_counter())
        return True

    # At least a few rounds, so that a purge faster than them still has its figure.
    during = bench.run(kinds, 5, until=purge_done)
    output, errors = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"flask idempotency purge failed: {errors}")
    match = re.search(r"Deleted (\d+)", output)
    if match is None:
        raise RuntimeError(f"flask idempotency purge said: {output!r}")
    return PurgeResult(int(match.group(1)), finished[0] - started, baseline, during)


@dataclass
class PartitionDrop:
    rows: int
    # DETACH holds a lock on the whole table; DROP only on the partition, then detached.
    detach_seconds: float
    drop_seconds: float

    @property
    def seconds(self) -> float:
        return self.detach_seconds + self.drop_seconds


def partition_drop(engine: sa.Engine, like: str, rows: int) -> PartitionDrop:
    """Fill a copy of the key table, partitioned by ``expires_at``, with ``rows`` expired keys
    in one partition, and time purging them by detaching and dropping that partition.

    A partitioned table's unique indexes must hold the partition key, so the copy's are
    ``(scope, idempotency_key, expires_at)`` and ``(id, expires_at)``: docs/scaling.md says
    how a real table keeps its keys unique all the same.
    """
    table = "bench_partitioned_key"
    with engine.begin() as connection:
        cutoff: datetime = connection.exec_driver_sql("SELECT timezone('UTC', now())").scalar_one()
        bound = cutoff.isoformat(sep=" ")
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS) PARTITION BY RANGE (expires_at)"
        )
        connection.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY (id, expires_at)")
        connection.exec_driver_sql(
            f"CREATE UNIQUE INDEX {table}_scope_key ON {table} (scope, idempotency_key, expires_at)"
        )
        connection.exec_driver_sql(f"CREATE INDEX {table}_expires_at ON {table} (expires_at)")
        connection.exec_driver_sql(
            f"CREATE TABLE {table}_expired PARTITION OF {table} "
            f"FOR VALUES FROM (MINVALUE) TO ('{bound}')"
        )
        connection.exec_driver_sql(
            f"CREATE TABLE {table}_live PARTITION OF {table} "
            f"FOR VALUES FROM ('{bound}') TO (MAXVALUE)"
        )
    add_keys(engine, rows, table=table)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {table}_expired")
    detached = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {table}_expired")
    dropped = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {table}")
    return PartitionDrop(rows, detached - started, dropped - detached)
