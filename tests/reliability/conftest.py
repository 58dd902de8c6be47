"""The reliability suite: the storefront under gunicorn (real worker processes) on each
database, pushed until something breaks. A bounded run is part of every test run; set
``RELIABILITY_LONG=1`` for the long one. The run ends with one line of figures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from example_app.extensions import db
from tests.served import Server, serve
from tests.storefront.conftest import build_storefront, seeded_storefront

LONG = os.environ.get("RELIABILITY_LONG") == "1"


def scaled(bounded: int, long: int) -> int:
    """How hard to try: ``bounded`` in every run, ``long`` with RELIABILITY_LONG=1."""
    return long if LONG else bounded


@dataclass
class Figures:
    requests: int = 0
    duplicated_effects: int = 0
    lost_keys: int = 0
    killed_workers_recovered: int = 0
    locks_left: int = 0

    def line(self) -> str:
        return (
            f"reliability: {self.requests} requests, {self.duplicated_effects} duplicated "
            f"effects, {self.lost_keys} lost keys, {self.killed_workers_recovered} killed "
            f"workers recovered, {self.locks_left} locks left"
        )


FIGURES = Figures()
_ran = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ran:
        terminalreporter.write_line(FIGURES.line())


@pytest.fixture
def figures() -> Figures:
    global _ran
    _ran = True
    return FIGURES


@pytest.fixture
def storefront(database_url: str) -> Iterator[Flask]:
    """The storefront's tables on this test's database, seeded; the app for direct checks."""
    with seeded_storefront(database_url) as app:
        yield app


@contextmanager
def another_storefront(
    database_url: str, prepare: Callable[[Flask], None] | None = None, **config: Any
) -> Iterator[Flask]:
    """Another storefront app with ``config`` on the database the ``storefront`` fixture made
    (tables created and seeded there); ``prepare`` may add routes before its first request.
    Its connections are closed at the end."""
    app = build_storefront(database_url, **config)
    if prepare is not None:
        prepare(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


ServeStorefront = Callable[..., AbstractContextManager[Server]]


@pytest.fixture
def serve_storefront(storefront: Flask, database_url: str, tmp_path: Path) -> ServeStorefront:
    """Start ``gunicorn -w 4 "example_app:create_app()"`` with fault injection on and
    ``FLASK_<name>`` settings from keyword arguments (``IDEMPOTENCY_LOCK_TIMEOUT=2``)."""

    def start(workers: int = 4, **settings: Any) -> AbstractContextManager[Server]:
        environment = {f"FLASK_{name}": str(value) for name, value in settings.items()}
        return serve(
            "example_app:create_app()",
            tmp_path,
            workers=workers,
            FLASK_SQLALCHEMY_DATABASE_URI=database_url,
            FLASK_STOREFRONT_FAULTS="true",
            **environment,
        )

    return start


def add_figures(target: Figures, **counts: int) -> None:
    for field in fields(target):
        if field.name in counts:
            setattr(target, field.name, getattr(target, field.name) + counts[field.name])
