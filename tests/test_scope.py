"""Keys are scoped to who the caller is, as the application established it; never guessed."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Request, abort, g, request
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

from flask_idempotency import ConfigurationError, Idempotency, idempotent
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import Charge, db

PASSWORDS = {"alice": "wonderland", "bob": "builder"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bare_flask(tmp_path: Path, **config: Any) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}", **config)
    return app


def test_without_a_scope_init_app_refuses_to_guess_and_names_the_choices(tmp_path: Path) -> None:
    app = bare_flask(tmp_path)
    SQLAlchemy(app)

    with pytest.raises(ConfigurationError) as refused:
        Idempotency(app)

    message = str(refused.value)
    for choice in ("IDEMPOTENCY_SCOPE", "callable", '"flask_login"', '"authorization"', '"global"'):
        assert choice in message


@pytest.mark.parametrize("value", ["user", 42, ""])
def test_a_scope_that_is_neither_a_name_nor_a_callable_is_refused(
    tmp_path: Path, value: object
) -> None:
    app = bare_flask(tmp_path, IDEMPOTENCY_SCOPE=value)
    SQLAlchemy(app)

    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_SCOPE"):
        Idempotency(app)


def test_the_scope_given_to_the_extension_wins_over_the_config(tmp_path: Path) -> None:
    app = bare_flask(tmp_path, IDEMPOTENCY_SCOPE="global")
    database = SQLAlchemy(app)
    Idempotency(app, database, scope=lambda: request.headers.get("X-Tenant"))

    @app.post("/ping")
    @idempotent
    def ping() -> dict[str, str]:
        return {"tenant": str(request.headers.get("X-Tenant"))}

    with app.app_context():
        database.create_all()
    client = app.test_client()
    first = client.post("/ping", headers=headers("k", **{"X-Tenant": "t1"}))
    second = client.post("/ping", headers=headers("k", **{"X-Tenant": "t2"}))

    assert "Idempotent-Replayed" not in second.headers
    assert (first.json, second.json) == ({"tenant": "t1"}, {"tenant": "t2"})


def test_a_view_may_name_its_own_scope(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_SCOPE="authorization")

    @app.post("/public-counter")
    @idempotent(scope="global")
    def public_counter() -> dict[str, int]:
        charge = Charge(amount=1)
        db.session.add(charge)
        db.session.flush()
        return {"id": charge.id}

    client = app.test_client()
    first = client.post("/public-counter", headers=headers("k", Authorization="Bearer a"))
    second = client.post("/public-counter", headers=headers("k", Authorization="Bearer b"))

    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.data == first.data
    assert [key.scope for key in stored_keys(app)] == [""]


def test_an_unknown_scope_name_on_a_view_is_refused_when_the_view_is_defined() -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        idempotent(scope="everyone")


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    """Checks Basic credentials; placed above @idempotent, as the README shows."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        credentials = request.authorization
        if credentials is None or PASSWORDS.get(credentials.username or "") != (
            credentials.password
        ):
            abort(401)
        return view(*args, **kwargs)

    return checked


def register_charge_view(app: Flask) -> None:
    @app.post("/my/charges")
    @authenticated
    @idempotent
    def my_charge() -> tuple[dict[str, Any], int]:
        charge = Charge(amount=request.get_json()["amount"], note=request.authorization.username)  # type: ignore[union-attr]
        db.session.add(charge)
        db.session.flush()
        return {"id": charge.id, "owner": charge.note}, 201


def test_authorization_scope_basic_users_keep_their_keys_apart_and_a_wrong_password_gets_401(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_SCOPE="authorization")
    register_charge_view(app)
    client = app.test_client()
    body = {"amount": 10}

    alice = client.post(
        "/my/charges", json=body, headers=headers("k", Authorization=basic("alice", "wonderland"))
    )
    intruder = client.post(
        "/my/charges", json=body, headers=headers("k", Authorization=basic("alice", "wrong"))
    )
    bob = client.post(
        "/my/charges", json=body, headers=headers("k", Authorization=basic("bob", "builder"))
    )
    again = client.post(
        "/my/charges", json=body, headers=headers("k", Authorization=basic("alice", "wonderland"))
    )

    assert alice.status_code == 201 and alice.json == {"id": 1, "owner": "alice"}
    assert intruder.status_code == 401
    assert str(alice.json) not in intruder.text
    assert bob.status_code == 201 and "Idempotent-Replayed" not in bob.headers
    assert bob.json is not None and bob.json["owner"] == "bob"
    assert again.headers["Idempotent-Replayed"] == "true" and again.data == alice.data
    assert sorted(key.scope for key in stored_keys(app)) == ["basic:alice", "basic:bob"]
    assert charges(app) == 2


def test_authorization_scope_without_credentials_is_the_anonymous_scope(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_SCOPE="authorization")
    app.test_client().post("/charges", json={"amount": 1}, headers=headers("k"))

    assert [key.scope for key in stored_keys(app)] == ["anonymous"]


def register_token_auth(app: Flask) -> None:
    """Bearer tokens that map to users; a refreshed token is another token of the same user."""
    tokens = {"t-alice-1": "alice", "t-alice-2": "alice", "t-bob": "bob"}

    @app.before_request
    def verify_token() -> None:
        header = request.headers.get("Authorization", "")
        user = tokens.get(header.removeprefix("Bearer "))
        if user is None:
            abort(401)
        g.user = user


def test_a_scope_from_the_verified_user_replays_across_a_refreshed_token(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_SCOPE=lambda: g.user)
    register_token_auth(app)
    client = app.test_client()

    first = client.post(
        "/charges", json={"amount": 3}, headers=headers("k", Authorization="Bearer t-alice-1")
    )
    refreshed = client.post(
        "/charges", json={"amount": 3}, headers=headers("k", Authorization="Bearer t-alice-2")
    )
    bob = client.post(
        "/charges", json={"amount": 3}, headers=headers("k", Authorization="Bearer t-bob")
    )

    assert refreshed.headers["Idempotent-Replayed"] == "true"
    assert refreshed.data == first.data
    assert "Idempotent-Replayed" not in bob.headers
    assert charges(app) == 2


class User:
    """A signed-in user as Flask-Login sees one: what its UserMixin gives, written out."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id


def load_user_from_request(incoming: Request) -> User | None:
    # Stands in for a verified credential: the tests' "session" header.
    user_id = incoming.headers.get("X-Test-User")
    return User(user_id) if user_id else None


def test_flask_login_scope_keeps_users_apart_and_anonymous_users_share_one_scope(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_SCOPE="flask_login", SECRET_KEY="test")
    LoginManager(app).request_loader(load_user_from_request)

    client = app.test_client()
    body = {"amount": 2}
    alice = client.post("/charges", json=body, headers=headers("k", **{"X-Test-User": "1"}))
    bob = client.post("/charges", json=body, headers=headers("k", **{"X-Test-User": "2"}))
    anonymous = client.post("/charges", json=body, headers=headers("k"))
    another_anonymous = client.post("/charges", json=body, headers=headers("k"))

    assert alice.status_code == bob.status_code == anonymous.status_code == 201
    assert "Idempotent-Replayed" not in bob.headers
    assert "Idempotent-Replayed" not in anonymous.headers
    assert another_anonymous.headers["Idempotent-Replayed"] == "true"
    assert sorted(key.scope for key in stored_keys(app)) == ["anonymous", "user:1", "user:2"]
    assert charges(app) == 3
