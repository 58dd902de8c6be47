"""Keys belong to a scope and expire."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import update

from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import db, idempotency


def test_two_clients_with_the_same_key_never_see_each_others_responses(
    client: FlaskClient, app: Flask
) -> None:
    alice = client.post(
        "/charges", json={"amount": 1}, headers=headers("shared", Authorization="Bearer alice")
    )
    bob = client.post(
        "/charges", json={"amount": 1}, headers=headers("shared", Authorization="Bearer bob")
    )

    assert alice.status_code == bob.status_code == 201
    assert "Idempotent-Replayed" not in bob.headers
    assert alice.json != bob.json
    assert charges(app) == 2
    # Each still replays its own.
    again = client.post(
        "/charges", json={"amount": 1}, headers=headers("shared", Authorization="Bearer alice")
    )
    assert again.data == alice.data


def test_the_authorization_scope_stores_a_digest_of_a_bearer_token_never_the_token(
    client: FlaskClient, app: Flask
) -> None:
    client.post("/charges", json={"amount": 1}, headers=headers("k", Authorization="Bearer s3cret"))

    [key] = stored_keys(app)
    assert key.scope == "sha256:" + hashlib.sha256(b"Bearer s3cret").hexdigest()
    columns = key.__table__.columns  # type: ignore[attr-defined]
    row_text = " ".join(str(getattr(key, column.name)) for column in columns)
    assert "s3cret" not in row_text


def test_a_custom_scope_function(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_SCOPE=lambda: request.headers.get("X-Tenant"))
    client = app.test_client()

    client.post("/charges", json={"amount": 1}, headers=headers("k", **{"X-Tenant": "t1"}))
    client.post("/charges", json={"amount": 1}, headers=headers("k", **{"X-Tenant": "t2"}))
    replay = client.post("/charges", json={"amount": 1}, headers=headers("k", **{"X-Tenant": "t1"}))

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert sorted(key.scope for key in stored_keys(app)) == ["t1", "t2"]
    assert charges(app) == 2


def expire_all(app: Flask) -> None:
    with app.app_context():
        model = idempotency.model
        for key in db.session.scalars(db.select(model)).all():
            db.session.execute(
                update(model)
                .where(model.id == key.id)
                .values(expires_at=key.created_at - timedelta(seconds=1))
            )
        db.session.commit()


def test_an_expired_key_behaves_as_new(client: FlaskClient, app: Flask) -> None:
    client.post("/charges", json={"amount": 1}, headers=headers("old"))
    expire_all(app)

    again = client.post("/charges", json={"amount": 1}, headers=headers("old"))
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert charges(app) == 2
    [key] = stored_keys(app)
    assert key.expires_at > key.created_at


def test_an_expired_key_may_be_reused_for_a_different_request(
    client: FlaskClient, app: Flask
) -> None:
    client.post("/charges", json={"amount": 1}, headers=headers("old"))
    expire_all(app)

    assert client.post("/charges", json={"amount": 2}, headers=headers("old")).status_code == 201


def test_keys_expire_after_the_configured_ttl(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_KEY_TTL=60)
    app.test_client().post("/charges", json={"amount": 1}, headers=headers("k"))

    [key] = stored_keys(app)
    assert key.expires_at - key.created_at == timedelta(seconds=60)


def test_purge_deletes_expired_keys_in_batches(app: Flask) -> None:
    client = app.test_client()
    for number in range(5):
        client.post("/charges", json={"amount": 1}, headers=headers(f"expired-{number}"))
    expire_all(app)
    client.post("/charges", json={"amount": 1}, headers=headers("fresh"))

    result = app.test_cli_runner().invoke(args=["idempotency", "purge", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "Deleted 5 expired idempotency keys." in result.output
    assert [key.idempotency_key for key in stored_keys(app)] == ["fresh"]
