"""No secret a client sends is kept at rest in the key's row, yet a retry is still compared on it.

``request_params`` keeps the request's params with the values of sensitive fields (password,
secret, token, card number, cvc, cvv, authorization, api key, by default) stored as
"[REDACTED]", in the query, the form and the JSON body at any depth; the fingerprint still
covers the real values.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_idempotency.config import DEFAULTS
from flask_idempotency.redaction import REDACTED, redacted, sensitive_name_matcher
from tests.helpers import headers, stored_keys
from tests.ledger_app import db, idempotency


def secret(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def stored_row_text(app: Flask) -> str:
    """Every column of every stored key, as the database returns them, as one text."""
    with app.app_context():
        table = idempotency.model.__table__  # type: ignore[attr-defined]
        rows = db.session.execute(select(table)).mappings().all()
    assert rows, "no key was stored"
    texts = []
    for row in rows:
        for value in row.values():
            texts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(texts)


def assert_kept_nowhere(app: Flask, secrets: list[str]) -> None:
    text = stored_row_text(app)
    for value in secrets:
        assert value not in text
        # Nor a digest of it, which a dictionary of likely secrets would reverse.
        assert hashlib.sha256(value.encode()).hexdigest() not in text


def test_sensitive_json_fields_are_stored_redacted_at_any_depth(
    client: FlaskClient, app: Flask
) -> None:
    secrets = {name: secret(name) for name in ("pw", "new", "card", "cvc", "cvv", "key", "cs")}
    body = {
        "email": "ada@example.com",
        "password": secrets["pw"],
        "user": {"newPassword": secrets["new"], "name": "Ada"},
        "payment": {
            "cards": [
                {"Card Number": secrets["card"], "CVC": secrets["cvc"], "brand": "visa"},
                [{"cvv2": secrets["cvv"]}],
            ],
        },
        "X-API-Key": secrets["key"],
        "client_secret": {"value": secrets["cs"], "kind": "nested under a secret name"},
        "amount": 5,
    }

    response = client.post("/anything/signup", json=body, headers=headers("signup-1"))

    assert response.status_code == 200
    [key] = stored_keys(app)
    assert key.request_params == {
        "query": {},
        "json": {
            "email": "ada@example.com",
            "password": REDACTED,
            "user": {"newPassword": REDACTED, "name": "Ada"},
            "payment": {
                "cards": [
                    {"Card Number": REDACTED, "CVC": REDACTED, "brand": "visa"},
                    [{"cvv2": REDACTED}],
                ],
            },
            "X-API-Key": REDACTED,
            "client_secret": REDACTED,
            "amount": 5,
        },
    }
    assert_kept_nowhere(app, list(secrets.values()))


def test_sensitive_query_form_and_file_fields_are_stored_redacted(
    client: FlaskClient, app: Flask
) -> None:
    token, password, upload = secret("token"), secret("password"), secret("file")

    response = client.post(
        f"/anything/login?access_token={token}&next=/home",
        data={
            "username": "ada",
            "Password": password,
            "secret_file": (io.BytesIO(upload.encode()), "id_rsa"),
            "avatar": (io.BytesIO(b"not secret"), "ada.png"),
        },
        headers=headers("login-1"),
    )

    assert response.status_code == 200
    [key] = stored_keys(app)
    assert key.request_params == {
        "query": {"access_token": REDACTED, "next": ["/home"]},
        "form": {"Password": REDACTED, "username": ["ada"]},
        "files": {
            "avatar": [
                {"filename": "ada.png", "sha256": hashlib.sha256(b"not secret").hexdigest()}
            ],
            "secret_file": REDACTED,
        },
    }
    assert_kept_nowhere(app, [token, password, upload])


def test_the_fingerprint_still_covers_the_real_values(client: FlaskClient, app: Flask) -> None:
    password = secret("password")

    first = client.post("/anything/login", json={"password": password}, headers=headers("k"))
    same = client.post("/anything/login", json={"password": password}, headers=headers("k"))
    other = client.post(
        "/anything/login", json={"password": secret("password")}, headers=headers("k")
    )

    assert first.status_code == 200
    assert same.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert_kept_nowhere(app, [password])


def test_params_that_cannot_be_stored_keep_a_digest_that_does_not_depend_on_a_secret(
    client: FlaskClient, app: Flask
) -> None:
    # A NUL cannot be stored in JSON on PostgreSQL, so only a digest of the params is kept.
    passwords = [secret("password"), secret("password")]
    for number, password in enumerate(passwords):
        client.post(
            "/anything/x",
            json={"note": "nul \u0000 inside", "password": password},
            headers=headers(f"nul-{number}"),
        )

    first, second = stored_keys(app)
    assert set(first.request_params) == {"params_sha256"}
    assert first.request_params == second.request_params
    assert first.fingerprint != second.fingerprint
    assert_kept_nowhere(app, passwords)


def test_the_redacted_fields_are_configurable(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_REDACTED_FIELDS=["ssn", "date_of_birth"])
    ssn = secret("ssn")

    app.test_client().post(
        "/anything/x",
        json={"SSN": ssn, "dateOfBirth": "1815-12-10", "password": "listed only by default"},
        headers=headers("k"),
    )

    [key] = stored_keys(app)
    assert key.request_params["json"] == {
        "SSN": REDACTED,
        "dateOfBirth": REDACTED,
        "password": "listed only by default",
    }


def test_store_params_false_keeps_only_the_fingerprint(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_STORE_PARAMS=False)
    client = app.test_client()
    note = secret("note")

    first = client.post(f"/anything/x?q={note}", json={"note": note}, headers=headers("k"))
    same = client.post(f"/anything/x?q={note}", json={"note": note}, headers=headers("k"))
    other = client.post("/anything/x?q=1", json={"note": note}, headers=headers("k"))

    [key] = stored_keys(app)
    assert key.request_params == {}
    assert first.status_code == 200
    assert same.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert note not in stored_row_text(app)


@pytest.mark.parametrize(
    ("field", "sensitive"),
    [
        ("password", True),
        ("PASSWORD", True),
        ("password_confirmation", True),
        ("refresh-token", True),
        ("card number", True),
        ("cardNumber", True),
        ("card_Number", True),
        ("CVV2", True),
        ("Authorization", True),
        ("apiKey", True),
        ("x_api_key", True),
        ("webhook_secret", True),
        ("passport", False),
        ("card", False),
        ("api", False),
        ("amount", False),
    ],
)
def test_which_names_are_sensitive_by_default(field: str, sensitive: bool) -> None:
    matcher = sensitive_name_matcher(DEFAULTS["IDEMPOTENCY_REDACTED_FIELDS"])

    assert matcher(field) is sensitive


def test_redaction_copies_and_leaves_the_original_alone() -> None:
    document: dict[str, Any] = {"a": [{"token": "t", "b": [1, {"secret": {"x": 1}}]}]}

    copy = redacted(document, sensitive_name_matcher(["token", "secret"]))

    assert copy == {"a": [{"token": REDACTED, "b": [1, {"secret": REDACTED}]}]}
    assert document == {"a": [{"token": "t", "b": [1, {"secret": {"x": 1}}]}]}


def test_redaction_handles_the_deepest_json_accepted() -> None:
    deepest: Any = {"password": "p"}
    for _ in range(600):
        deepest = [deepest]

    copy = redacted(deepest, sensitive_name_matcher(["password"]))

    for _ in range(600):
        copy = copy[0]
    assert copy == {"password": REDACTED}
