"""The databases a run measures: SQLite in a file, and a database of its own, made and dropped
again, on each PostgreSQL and MariaDB server. Server settings are never changed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

KINDS = ("sqlite", "postgresql", "mariadb")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}
URL_VARIABLES = {"postgresql": "TEST_POSTGRESQL_URL", "mariadb": "TEST_MARIADB_URL"}
DEFAULT_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


class DatabaseUnavailable(Exception):
    pass


@dataclass(frozen=True)
class ScratchDatabase:
    kind: str
    url: str
    version: str

    @property
    def label(self) -> str:
        return LABELS[self.kind]


def server_url(kind: str) -> str:
    return os.environ.get(URL_VARIABLES[kind]) or DEFAULT_URLS[kind]


def server_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                return "SQLite " + str(
                    connection.exec_driver_sql("SELECT sqlite_version()").scalar()
                )
            if engine.dialect.name == "postgresql":
                return "PostgreSQL " + str(
                    connection.exec_driver_sql("SHOW server_version").scalar()
                )
            return "MariaDB " + str(connection.exec_driver_sql("SELECT VERSION()").scalar())
    finally:
        engine.dispose()


@contextmanager
def scratch_database(
    kind: str, directory: Path, server: str | None = None
) -> Iterator[ScratchDatabase]:
    """A fresh, empty database of ``kind`` for one run, dropped at the end; on ``server`` if
    given, else on the server the environment names."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / f'bench_{uuid.uuid4().hex[:8]}.sqlite'}"
        yield ScratchDatabase(kind, url, server_version(url))
        return

    base = make_url(server or server_url(kind))
    name = f"fi_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        admin.dispose()
        raise DatabaseUnavailable(
            f"{LABELS[kind]} at {base.render_as_string()} is unreachable "
            f"(set {URL_VARIABLES[kind]}): {error.orig}"
        ) from None
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield ScratchDatabase(kind, url, server_version(url))
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()
