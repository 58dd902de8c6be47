"""The three-node Galera cluster of ``scripts/galera``, as the tests use it: its nodes' URLs,
what each node says about itself, and killing and restarting a node."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy.engine import URL, make_url

from tests.served import ROOT

SCRIPT = ROOT / "scripts" / "galera"
NODES = (1, 2, 3)
# Reads wait until the node has applied every transaction the cluster committed before them
# (causal reads): a replay on one node sees the key another node just finished.
SYNC_WAIT = 1


class ClusterError(RuntimeError):
    """scripts/galera failed; its message is what the script said."""


# Held by the test session that runs the cluster: a second session on the machine waits for
# it, rather than have `up` take the first one's cluster for a stale one and stop it.
LOCK_PATH = Path(os.environ.get("GALERA_DIR", "/tmp/flask-idempotency-galera") + ".lock")
LOCK_PATIENCE = 600


@contextmanager
def exclusive_use() -> Iterator[None]:
    with LOCK_PATH.open("a") as lock:
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    message = f"another test run has held {LOCK_PATH} for 10 minutes"
                    raise ClusterError(message) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_script(*arguments: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(SCRIPT), *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise ClusterError(f"scripts/galera {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Cluster:
    """Node N (1, 2, 3) answers at ``servers[N - 1]``."""

    servers: list[URL]
    # Conflicts counted by nodes that were killed since, read just before each kill.
    _banked_conflicts: int = field(default=0, init=False)

    @classmethod
    def start(cls) -> Cluster:
        printed = run_script("up")
        return cls([make_url(line) for line in printed.split()])

    @staticmethod
    def stop() -> None:
        run_script("down", timeout=120)

    def url(self, node: int, database: str, sync_wait: int = SYNC_WAIT) -> str:
        """Node ``node``'s URL for ``database``; every connection sets ``wsrep_sync_wait``."""
        url = self.servers[node - 1].set(
            database=database,
            query={"init_command": f"SET SESSION wsrep_sync_wait = {sync_wait}"},
        )
        return url.render_as_string(hide_password=False)

    def connect(self, node: int, database: str | None = None) -> pymysql.Connection[Any]:
        server = self.servers[node - 1]
        return pymysql.connect(
            host=server.host,
            port=server.port or 3306,
            user=server.username,
            password=server.password or "",
            database=database,
            autocommit=True,
        )

    def status(self, node: int, name: str) -> str:
        with self.connect(node) as connection, connection.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
            row = cursor.fetchone()
        return "" if row is None else str(row[1])

    def alive(self, node: int) -> bool:
        try:
            return self.status(node, "wsrep_local_state_comment") == "Synced"
        except pymysql.err.OperationalError:
            return False

    def local_conflicts(self, node: int) -> int:
        """Transactions of this node that lost to another node's: failed certification at
        COMMIT, or aborted by a replicated write while open."""
        return int(self.status(node, "wsrep_local_cert_failures")) + int(
            self.status(node, "wsrep_local_bf_aborts")
        )

    def conflicts(self) -> int:
        """Every certification conflict since the cluster started, killed nodes' included."""
        live = sum(self.local_conflicts(node) for node in NODES if self.alive(node))
        return self._banked_conflicts + live

    def ready(self, node: int) -> bool:
        """Whether the node takes queries: it is in the primary component and synced."""
        return self.status(node, "wsrep_ready") == "ON"

    def isolate(self, node: int) -> None:
        """Cut the node off from the others' group communication, as a network partition
        would: once the others have evicted it (evs.suspect_timeout), it is outside the primary
        component and refuses every query with 1047; the others go on as a cluster of two."""
        self._set_provider_option(node, "gmcast.isolate=1")

    def reconnect(self, node: int) -> None:
        """Undo ``isolate``: the node rejoins and catches up (incremental transfer)."""
        self._set_provider_option(node, "gmcast.isolate=0")

    def _set_provider_option(self, node: int, option: str) -> None:
        with self.connect(node) as connection, connection.cursor() as cursor:
            cursor.execute("SET GLOBAL wsrep_provider_options = %s", (option,))

    def kill(self, node: int) -> None:
        """SIGKILL the node, as a crash of its machine would."""
        self._banked_conflicts += self.local_conflicts(node)
        run_script("kill-node", str(node))

    def restart(self, node: int) -> None:
        """Start a killed node again; it rejoins (by incremental or snapshot transfer)."""
        run_script("start-node", str(node))
