"""Every response can be finished: one too large to keep is still sent and its work committed,
and a retry learns that the operation completed, without running it again."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, Response, request

from flask_idempotency import idempotent
from flask_idempotency.server_settings import PACKET_SHARE
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import Charge, create_app, db

LIMIT = 4096


def add_sized_views(app: Flask) -> None:
    """``POST /sized/<n>`` records a charge and answers with a body of exactly n bytes, JSON
    or binary; ``runs`` counts how often the view ran."""
    app.config["RUNS"] = 0

    @app.post("/sized/<int:size>")
    @idempotent
    def sized(size: int) -> Response:
        app.config["RUNS"] += 1
        charge = Charge(amount=size, note="sized")
        db.session.add(charge)
        db.session.flush()
        if request.args.get("binary"):
            return Response(bytes(range(256)) * (size // 256) + b"\0" * (size % 256))
        # Accented characters grow when stored as a JSON document, as a real body's might.
        prefix = json.dumps({"id": charge.id, "text": ""})[:-2]
        padding = "é" * ((size - len(prefix) - 2) // 2) + "x" * ((size - len(prefix) - 2) % 2)
        body = (prefix + padding + '"}').encode()
        assert len(body) == size
        return Response(body, status=201, mimetype="application/json")


@pytest.fixture
def sized_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(IDEMPOTENCY_MAX_RESPONSE_SIZE=LIMIT)
    add_sized_views(app)
    return app


@pytest.mark.parametrize("kind", ["json", "binary"])
def test_a_response_over_the_limit_is_sent_committed_and_not_run_again(
    sized_app: Flask, kind: str
) -> None:
    client = sized_app.test_client()
    url = f"/sized/{LIMIT + 1}" + ("?binary=1" if kind == "binary" else "")

    first = client.post(url, headers=headers("big"))
    retry = client.post(url, headers=headers("big"))

    assert first.status_code == (201 if kind == "json" else 200)
    assert len(first.data) == LIMIT + 1
    assert charges(sized_app) == 1
    assert sized_app.config["RUNS"] == 1
    assert retry.status_code == 410
    assert retry.mimetype == "application/problem+json"
    problem = retry.json
    assert problem is not None
    assert problem["status"] == 410
    assert problem["original_status"] == first.status_code
    assert "completed" in problem["detail"]
    assert retry.headers["Idempotency-Key"] == "big"
    [key] = stored_keys(sized_app)
    assert (key.response_kept, key.response_bytes, key.response_code) == (
        False,
        None,
        first.status_code,
    )


def test_a_response_at_the_limit_replays_normally(sized_app: Flask) -> None:
    client = sized_app.test_client()

    first = client.post(f"/sized/{LIMIT}", headers=headers("fits"))
    retry = client.post(f"/sized/{LIMIT}", headers=headers("fits"))

    assert retry.status_code == first.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert len(retry.data) == LIMIT
    assert sized_app.config["RUNS"] == 1
    assert charges(sized_app) == 1


def test_an_expired_key_whose_response_was_not_kept_starts_afresh(sized_app: Flask) -> None:
    client = sized_app.test_client()
    client.post(f"/sized/{LIMIT + 1}", headers=headers("again"))
    with sized_app.app_context():
        long_ago = datetime(2000, 1, 1)
        db.session.execute(
            sa.update(db.metadata.tables["idempotency_key"]).values(
                created_at=long_ago, expires_at=long_ago
            )
        )
        db.session.commit()

    renewed = client.post(f"/sized/{LIMIT}", headers=headers("again"))
    replay = client.post(f"/sized/{LIMIT}", headers=headers("again"))

    assert renewed.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == renewed.data


@pytest.fixture
def mariadb_url(server_database: Callable[[str], str]) -> str:
    return server_database("mariadb")


@pytest.fixture
def mariadb_apps(mariadb_url: str, tmp_path: Path) -> Iterator[list[Flask]]:
    apps: list[Flask] = []
    yield apps
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def test_on_mariadb_the_limit_is_derived_from_max_allowed_packet(
    mariadb_url: str,
    mariadb_apps: list[Flask],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configured = 1024 * 1024 * 1024
    with caplog.at_level(logging.WARNING, logger="flask_idempotency"):
        app = create_app(mariadb_url, tmp_path, IDEMPOTENCY_MAX_RESPONSE_SIZE=configured)
    mariadb_apps.append(app)
    add_sized_views(app)
    with app.app_context():
        db.create_all()
        packet = int(db.session.scalar(sa.text("SELECT @@GLOBAL.max_allowed_packet")) or 0)
        db.session.remove()

    assert app.extensions["idempotency"].settings.max_response_size == packet // PACKET_SHARE
    assert "IDEMPOTENCY_MAX_RESPONSE_SIZE" in caplog.text
    assert "max_allowed_packet" in caplog.text

    # A body that no statement could carry: still sent, committed, and not run again.
    client = app.test_client()
    first = client.post(f"/sized/{packet + 1}?binary=1", headers=headers("huge"))
    retry = client.post(f"/sized/{packet + 1}?binary=1", headers=headers("huge"))

    assert first.status_code == 200
    assert len(first.data) == packet + 1
    assert retry.status_code == 410
    assert app.config["RUNS"] == 1
    assert charges(app) == 1
