"""Whatever the server's settings: keys compare byte for byte, unsupported servers and settings
are refused at init_app, and a server out of reach at start-up does not stop the app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from flask_idempotency import ConfigurationError, Idempotency
from flask_idempotency.server_settings import check_server_version
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import create_app, db, idempotency

# "order-a " differs from "order-a" only by a trailing space, which PAD SPACE collations ignore.
KEYS_THAT_DIFFER_ONLY_IN_CASE_OR_PADDING = ("Order-A", "order-a", "order-a ")


def claim_and_finish(app: Flask, key: str, body: bytes) -> None:
    with app.app_context():
        service = idempotency.service
        claimed = service.initialize_request(key, "POST", {}, "/charges", scope="shop")
        assert claimed.lock_token is not None, f"{key!r} was taken for another key"
        service.finish(
            claimed,
            {
                "response_code": 201,
                "response_body": None,
                "response_bytes": body,
                "response_headers": [],
                "response_kept": True,
            },
        )


def test_keys_differing_in_case_are_two_keys_each_replaying_its_own_response(
    client: FlaskClient, app: Flask
) -> None:
    upper = client.post("/charges", json={"amount": 1}, headers=headers("Order-A"))
    lower = client.post("/charges", json={"amount": 1}, headers=headers("order-a"))

    assert "Idempotent-Replayed" not in lower.headers
    assert charges(app) == 2
    for key, first in (("Order-A", upper), ("order-a", lower)):
        retry = client.post("/charges", json={"amount": 1}, headers=headers(key))
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.data == first.data
    assert upper.json != lower.json
    assert charges(app) == 2


def test_keys_differing_only_in_case_or_trailing_spaces_are_three_keys(app: Flask) -> None:
    for key in KEYS_THAT_DIFFER_ONLY_IN_CASE_OR_PADDING:
        claim_and_finish(app, key, body=key.encode())

    with app.app_context():
        for key in KEYS_THAT_DIFFER_ONLY_IN_CASE_OR_PADDING:
            replayed = idempotency.service.initialize_request(
                key, "POST", {}, "/charges", scope="shop"
            )
            assert replayed.is_finished
            assert replayed.response_bytes == key.encode()
    assert sorted(key.idempotency_key for key in stored_keys(app)) == sorted(
        KEYS_THAT_DIFFER_ONLY_IN_CASE_OR_PADDING
    )


def test_the_unique_constraint_still_holds_for_the_very_same_key(app: Flask) -> None:
    claim_and_finish(app, "order-a ", body=b"first")

    with app.app_context():
        table = idempotency.model.__table__  # type: ignore[attr-defined]
        row = {
            column: value
            for column, value in db.session.execute(sa.select(table)).one()._mapping.items()
            if column != "id"
        }
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(table.insert().values(row))
        db.session.rollback()


@pytest.mark.parametrize(
    "version",
    [
        "10.5.0-MariaDB",
        "10.11.19-MariaDB-0+deb12u1",
        "11.4.2-MariaDB-log",
        # MariaDB as older clients see it, behind MySQL's replication prefix.
        "5.5.5-10.6.12-MariaDB",
    ],
)
def test_mariadb_from_10_5_is_accepted(version: str) -> None:
    check_server_version(version)


@pytest.mark.parametrize(
    "version",
    [
        "8.0.36",
        "8.4.0-commercial",
        "5.7.44-log",
        "8.0.36-28",  # Percona Server
        "10.4.32-MariaDB",
        "5.5.5-10.3.39-MariaDB",
    ],
)
def test_mysql_and_mariadb_before_10_5_are_refused_naming_what_is_supported(version: str) -> None:
    with pytest.raises(ConfigurationError, match=r"MariaDB 10\.5 or later, PostgreSQL or SQLite"):
        check_server_version(version)


def test_mariadb_passes_the_start_up_check(
    server_database: Callable[[str], str], tmp_path: Path
) -> None:
    app = create_app(server_database("mariadb"), tmp_path)
    try:
        # The default 1 MiB fits MariaDB's default max_allowed_packet (16 MiB) with room to spare.
        assert app.extensions["idempotency"].settings.max_response_size == 1024 * 1024
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_server_out_of_reach_at_start_up_is_logged_and_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    # Nothing listens on port 1: the connection is refused at once.
    app.config.update(
        SQLALCHEMY_DATABASE_URI="mysql+pymysql://nobody@127.0.0.1:1/none",
        IDEMPOTENCY_SCOPE="global",
    )
    database = SQLAlchemy(app)

    with caplog.at_level(logging.WARNING, logger="flask_idempotency"):
        Idempotency(app, database)

    assert "could not be reached" in caplog.text
    assert app.extensions["idempotency"].settings.max_response_size == 1024 * 1024


@pytest.mark.parametrize("length", [256, 10_000])
def test_a_max_key_length_beyond_the_column_is_refused_at_init_app(
    tmp_path: Path, length: int
) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}",
        IDEMPOTENCY_SCOPE="global",
        IDEMPOTENCY_MAX_KEY_LENGTH=length,
    )
    database = SQLAlchemy(app)

    with pytest.raises(ConfigurationError, match=r"IDEMPOTENCY_MAX_KEY_LENGTH.*255"):
        Idempotency(app, database)


def test_the_column_length_itself_is_accepted(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}",
        IDEMPOTENCY_SCOPE="global",
        IDEMPOTENCY_MAX_KEY_LENGTH=255,
    )
    Idempotency(app, SQLAlchemy(app))

    assert app.extensions["idempotency"].settings.max_key_length == 255
