"""Medusa's own JavaScript client, ``@medusajs/medusa-js`` v1, completes checkouts against the
storefront served by gunicorn on each database: a whole checkout, an answer lost on its way
back, a retry that meets the completion still running, and a stage that fails half-way. The
client's side is ``tests/medusa_js/conformance.mjs``; it needs Node.js and ``npm ci``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import unavailable
from tests.served import ROOT, serve

pytestmark = pytest.mark.concurrency

SCRIPT = ROOT / "tests" / "medusa_js" / "conformance.mjs"
CLIENT_PACKAGE = ROOT / "node_modules" / "@medusajs" / "medusa-js" / "package.json"
# The client waits out retries (Retry-After, its own back-off) inside the run.
RUN_TIMEOUT_SECONDS = 300
CLIENT_REQUIRED = "Node.js and the client"


@pytest.fixture
def node() -> str:
    """The path of ``node``, with the client installed in the repository's node_modules."""
    node = shutil.which("node")
    if node is None:
        unavailable(
            "Node.js is not installed: install Node 18+ and run `npm ci` in the repository",
            required=CLIENT_REQUIRED,
        )
    assert node is not None
    if not CLIENT_PACKAGE.exists():
        unavailable(
            "@medusajs/medusa-js is not installed: run `npm ci` in the repository",
            required=CLIENT_REQUIRED,
        )
    return node


@pytest.fixture
def storefront_database(database_url: str) -> Iterator[str]:
    """The storefront's database as an operator makes it, with the migrations and then the
    seed; every table is dropped at the end, the server's database being shared by the run."""
    environment = {**os.environ, "FLASK_SQLALCHEMY_DATABASE_URI": database_url}
    for command in (["db", "upgrade"], ["seed"]):
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "example_app", *command],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"flask {' '.join(command)}:\n{done.stdout}{done.stderr}"
    yield database_url
    engine = sa.create_engine(database_url)
    try:
        tables = sa.MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


def test_medusa_js_completes_checkouts_once_through_lost_answers_and_faults(
    node: str, storefront_database: str, tmp_path: Path
) -> None:
    with serve(
        "example_app:create_app()",
        tmp_path,
        workers=3,
        FLASK_SQLALCHEMY_DATABASE_URI=storefront_database,
        FLASK_STOREFRONT_FAULTS="true",
    ) as server:
        run = subprocess.run(
            [node, str(SCRIPT), f"http://127.0.0.1:{server.port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
        )

    print(run.stdout)
    assert run.returncode == 0, (
        f"medusa-js conformance failed (exit {run.returncode}):\n{run.stdout}{run.stderr}\n"
        f"gunicorn's log:\n{server.log_path.read_text()[-4000:]}"
    )
