"""Setting the extension up: init_app, configuration, the model on the app's own db."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import inspect

from flask_idempotency import Idempotency, IdempotencyKey, idempotent
from tests.helpers import headers


def make_flask(tmp_path: Path, **config: object) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}", IDEMPOTENCY_SCOPE="global"
    )
    app.config.update(config)
    return app


def test_registers_itself_and_refuses_a_second_init_app(tmp_path: Path) -> None:
    app = make_flask(tmp_path)
    db = SQLAlchemy(app)
    extension = Idempotency(app, db)

    assert "idempotency" in app.extensions
    with pytest.raises(RuntimeError, match="already"):
        extension.init_app(app)


def test_uses_the_sqlalchemy_already_on_the_app(tmp_path: Path) -> None:
    app = make_flask(tmp_path)
    db = SQLAlchemy(app)
    extension = Idempotency(app)

    with app.app_context():
        assert issubclass(extension.model, IdempotencyKey)
        assert extension.model.__table__ in db.metadata.tables.values()  # type: ignore[attr-defined]


def test_without_flask_sqlalchemy_it_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Flask-SQLAlchemy"):
        Idempotency(make_flask(tmp_path))


def test_the_table_is_created_with_the_configured_name_and_indexes(tmp_path: Path) -> None:
    app = make_flask(tmp_path, IDEMPOTENCY_TABLE_NAME="request_keys")
    db = SQLAlchemy(app)
    Idempotency(app, db)

    with app.app_context():
        db.create_all()
        inspector = inspect(db.engine)
        assert "request_keys" in inspector.get_table_names()
        unique = inspector.get_unique_constraints("request_keys")
        assert [constraint["column_names"] for constraint in unique] == [
            ["scope", "idempotency_key"]
        ]
        indexed = [index["column_names"] for index in inspector.get_indexes("request_keys")]
        assert ["expires_at"] in indexed


def test_settings_come_from_prefixed_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_IDEMPOTENCY_LOCK_TIMEOUT", "2.5")
    monkeypatch.setenv("FLASK_IDEMPOTENCY_KEY_TTL", "60")
    monkeypatch.setenv("FLASK_IDEMPOTENCY_REQUIRED", "true")
    app = make_flask(tmp_path)
    app.config.from_prefixed_env()
    db = SQLAlchemy(app)
    Idempotency(app, db)

    @app.post("/needs-key")
    @idempotent
    def needs_key() -> dict[str, bool]:
        return {"ok": True}

    settings = app.extensions["idempotency"].settings
    assert (settings.lock_timeout, settings.key_ttl, settings.required) == (2.5, 60.0, True)
    with app.app_context():
        db.create_all()
    assert app.test_client().post("/needs-key").status_code == 400
    assert app.test_client().post("/needs-key", headers=headers("k")).status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDEMPOTENCY_LOCK_TIMEOUT", "soon"),
        ("IDEMPOTENCY_LOCK_TIMEOUT", 0),
        ("IDEMPOTENCY_KEY_TTL", -1),
        ("IDEMPOTENCY_MAX_KEY_LENGTH", 0),
        ("IDEMPOTENCY_REQUIRED", "yes"),
        ("IDEMPOTENCY_STORED_HEADERS", "Location"),
        ("IDEMPOTENCY_SCOPE", "user"),
    ],
)
def test_invalid_settings_are_refused_at_init_app(tmp_path: Path, name: str, value: object) -> None:
    app = make_flask(tmp_path, **{name: value})
    db = SQLAlchemy(app)
    with pytest.raises((TypeError, ValueError), match=name):
        Idempotency(app, db)


def test_set_cookie_is_never_stored_even_when_configured(tmp_path: Path) -> None:
    app = make_flask(tmp_path, IDEMPOTENCY_STORED_HEADERS=["Location", "Set-Cookie"])
    db = SQLAlchemy(app)
    Idempotency(app, db)

    @app.post("/login")
    @idempotent
    def login() -> tuple[dict[str, bool], int, dict[str, str]]:
        return {"ok": True}, 200, {"Set-Cookie": "session=secret", "Location": "/home"}

    with app.app_context():
        db.create_all()
    client = app.test_client()
    client.post("/login", headers=headers("login"))
    replay = client.post("/login", headers=headers("login"))

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == "/home"
    assert "Set-Cookie" not in replay.headers
