"""Every test that takes ``app`` runs on SQLite and, when their URLs are set, on PostgreSQL
(``TEST_POSTGRESQL_URL``) and MariaDB (``TEST_MARIADB_URL``). Each run creates its own uniquely
named database on each server and drops it at the end. Under ``CI=true`` a server that is not
configured or not reachable fails the run instead of skipping its tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import URL, make_url

from tests.ledger_app import create_app, db

pytest_plugins = ("pytester",)

SERVER_URL_VARIABLES = {"postgresql": "TEST_POSTGRESQL_URL", "mariadb": "TEST_MARIADB_URL"}
SERVER_KINDS = list(SERVER_URL_VARIABLES)
DATABASES = ["sqlite", *SERVER_KINDS]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str, *, required: str = "every database") -> None:
    """Skip for a missing prerequisite; under CI=true, fail instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true requires {required})", pytrace=False)
    pytest.skip(reason)


def server_url(kind: str) -> URL:
    variable = SERVER_URL_VARIABLES[kind]
    value = os.environ.get(variable)
    if not value:
        unavailable(f"{variable} is not set")
    return make_url(str(value))


@pytest.fixture(scope="session")
def server_database() -> Iterator[Callable[[str], str]]:
    """Makes, once per server kind and test run, a database of its own; drops them at the end."""
    created: dict[str, tuple[sa.Engine, URL]] = {}

    def database_for(kind: str) -> str:
        if kind not in created:
            base = server_url(kind)
            name = f"fi_test_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f"CREATE DATABASE {name}")
            except sa.exc.OperationalError as error:
                admin.dispose()
                unavailable(f"{kind} at {base.render_as_string()} is unreachable: {error}")
            created[kind] = (admin, base.set(database=name))
        return created[kind][1].render_as_string(hide_password=False)

    yield database_for

    for kind, (admin, url) in created.items():
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.database}{force}")
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(database_kind: str, tmp_path: Path, server_database: Callable[[str], str]) -> str:
    if database_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    return server_database(database_kind)


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Builds the ledger app on this test's database, with extra config; cleans up after."""
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app(database_url, tmp_path, **config)
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app

    yield make

    for index, app in enumerate(apps):
        with app.app_context():
            db.session.remove()
            if index == 0:
                db.drop_all()
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()
