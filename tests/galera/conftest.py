"""The Galera suite: the extension on a three-node MariaDB Galera cluster that the session
starts with ``scripts/galera up`` and stops at its end (failed or not).

It runs only when asked for by its marker (``make test-galera``, ``pytest -m galera``): a
plain ``pytest`` deselects it, so that ``make test`` starts no cluster. Where galera-4 is not
installed its tests skip, and fail under CI=true. The run ends with one line of figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import unavailable
from tests.galera.cluster import NODES, Cluster, ClusterError, exclusive_use, run_script
from tests.galera.ledger_nodes import locked_keys
from tests.ledger_app import create_app, db
from tests.storefront.conftest import seeded_storefront

HERE = Path(__file__).parent
# The tests that kill a node run last, so that other tests wait less for it to rejoin.
LAST_MODULES = ("test_eviction_pause.py", "test_node_loss.py")


@dataclass
class Figures:
    requests: int = 0
    conflicts: int = 0
    duplicated_effects: int = 0
    lost_keys: int = 0
    node_kills_recovered: int = 0
    locks_left: int = 0

    def line(self) -> str:
        return (
            f"galera: {self.requests} requests, {self.conflicts} conflicts, "
            f"{self.duplicated_effects} duplicated effects, {self.lost_keys} lost keys, "
            f"{self.node_kills_recovered} node kills recovered, {self.locks_left} locks left"
        )


FIGURES = Figures()
_ran = False


def add_figures(**counts: int) -> None:
    for field in fields(FIGURES):
        if field.name in counts:
            setattr(FIGURES, field.name, getattr(FIGURES, field.name) + counts[field.name])


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "galera" not in (config.option.markexpr or ""):
        skipped = [item for item in items if _ours(item)]
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = [item for item in items if not _ours(item)]
        return
    items.sort(key=lambda item: _ours(item) and Path(str(item.path)).name in LAST_MODULES)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ran:
        terminalreporter.write_line(FIGURES.line())


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        run_script("check")
    except ClusterError as missing:
        unavailable(str(missing), required="galera-4, mariadb-server and rsync")
    global _ran
    _ran = True
    with exclusive_use():
        try:
            started = Cluster.start()
            yield started
            FIGURES.conflicts += started.conflicts()
        finally:
            Cluster.stop()


@pytest.fixture(autouse=True)
def three_nodes(request: pytest.FixtureRequest) -> None:
    """Every test begins with three Synced nodes: one killed before is started again."""
    if "cluster" not in request.fixturenames:
        return
    cluster: Cluster = request.getfixturevalue("cluster")
    for node in NODES:
        if not cluster.alive(node):
            cluster.restart(node)


def create_database(cluster: Cluster) -> str:
    """A database of this run's, created on node 1: the others have it as soon as it is made.
    It goes with the cluster at the end of the run."""
    name = f"fi_galera_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(cluster.url(1, ""), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return name


@pytest.fixture(scope="session")
def ledger_database(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ledger's tables, made once on node 1 and replicated to the others."""
    name = create_database(cluster)
    app = create_app(cluster.url(1, name), tmp_path_factory.mktemp("ledger"))
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    return name


NodeApps = Callable[..., list[Flask]]


@pytest.fixture
def node_apps(cluster: Cluster, ledger_database: str, tmp_path: Path) -> Iterator[NodeApps]:
    """``node_apps(**config)``: the ledger app once per node, each with ``config``; a request
    to ``apps[N - 1]`` runs on node N. Every key they touched is unlocked at the end."""
    made: list[Flask] = []

    def make(**config: Any) -> list[Flask]:
        apps = [
            create_app(cluster.url(node, ledger_database), tmp_path, **config) for node in NODES
        ]
        made.extend(apps)
        return apps

    yield make

    left = locked_keys(made[0]) if made else 0
    add_figures(locks_left=left)
    for app in made:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    assert left == 0, "keys left locked"


@pytest.fixture(scope="session")
def storefront_database(cluster: Cluster) -> str:
    return create_database(cluster)


@pytest.fixture(scope="session")
def storefront(cluster: Cluster, storefront_database: str) -> Iterator[Flask]:
    """The storefront's tables on the cluster, seeded; the app, on node 1, for checks."""
    with seeded_storefront(cluster.url(1, storefront_database)) as app:
        yield app
