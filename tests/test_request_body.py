"""An idempotent view sees the request body exactly as the same view without the decorator.

The fingerprint reads the whole body first; the view must still find it through every way
werkzeug offers (``get_data()``, ``form``, ``files``, ``stream``, ``get_json()``), so that a
webhook receiver's HMAC over the raw body verifies and a view reading the stream gets it all.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_idempotency import idempotent
from tests.helpers import headers, stored_keys

BOUNDARY = "twin-boundary-7d1f"
WEBHOOK_SECRET = b"whsec_test_only"


def multipart_body() -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nfor the twins',
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nfirst',
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nsecond',
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="receipt"; '
        'filename="receipt.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
    ]
    return "\r\n".join(parts).encode() + bytes(range(256)) * 4 + f"\r\n--{BOUNDARY}--\r\n".encode()


def chunked(body: bytes, content_type: str) -> dict[str, Any]:
    """Sent without a Content-Length, as a server hands over a chunked body it has decoded."""
    return {
        "input_stream": io.BytesIO(body),
        "content_type": content_type,
        "headers": {"Transfer-Encoding": "chunked"},
        "environ_overrides": {"wsgi.input_terminated": True},
    }


FORM = b"name=Ada+Lovelace&tags=first&tags=second&empty="
JSON = b'{"amount": 3, "items": [1, {"b": null}], "note": "caf\\u00e9"}'
# Each builds fresh keyword arguments for client.post, so that a stream is never read twice.
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "form": lambda: {"data": FORM, "content_type": "application/x-www-form-urlencoded"},
    "multipart with a file": lambda: {
        "data": multipart_body(),
        "content_type": f"multipart/form-data; boundary={BOUNDARY}",
    },
    "json": lambda: {"data": JSON, "content_type": "application/json"},
    "raw bytes": lambda: {
        "data": bytes(range(256)) * 3,
        "content_type": "application/octet-stream",
    },
    "chunked form": lambda: chunked(FORM, "application/x-www-form-urlencoded"),
    "chunked multipart": lambda: chunked(
        multipart_body(), f"multipart/form-data; boundary={BOUNDARY}"
    ),
    "chunked json": lambda: chunked(JSON, "application/json"),
}


def send(client: FlaskClient, path: str, body: dict[str, Any], key: str) -> TestResponse:
    return client.post(path, **{**body, "headers": {**body.get("headers", {}), **headers(key)}})


def read_in_small_pieces() -> str:
    pieces = []
    while piece := request.stream.read(7):
        pieces.append(piece)
    return b"".join(pieces).hex()


def files_seen() -> dict[str, list[list[Any]]]:
    return {
        name: [[upload.filename, upload.mimetype, upload.read().hex()] for upload in uploads]
        for name, uploads in request.files.lists()
    }


# What the view looks at, each alone and in the orders werkzeug treats differently.
READERS: dict[str, Callable[[], Any]] = {
    "get_data": lambda: request.get_data().hex(),
    "form": lambda: request.form.to_dict(flat=False),
    "files": files_seen,
    "stream.read": lambda: request.stream.read().hex(),
    "stream in pieces": read_in_small_pieces,
    "get_json": lambda: request.get_json(silent=True),
    "data": lambda: request.data.hex(),
    "get_data then form and files": lambda: [
        request.get_data().hex(),
        request.form.to_dict(flat=False),
        files_seen(),
    ],
    "form then get_data": lambda: [request.form.to_dict(flat=False), request.get_data().hex()],
    "get_json then stream": lambda: [
        request.get_json(silent=True),
        request.stream.read().hex(),
    ],
}


def register_twins(app: Flask) -> None:
    """The same view twice under each reader, once plain and once idempotent."""

    def seen(reader: str) -> Any:
        return {"seen": READERS[reader]()}

    app.add_url_rule("/plain/<reader>", "plain", seen, methods=["POST"])
    app.add_url_rule("/idempotent/<reader>", "idempotent", idempotent(seen), methods=["POST"])

    @app.post("/webhook")
    @idempotent
    def webhook() -> Any:
        expected = hmac.new(WEBHOOK_SECRET, request.get_data(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
            return {"error": "bad signature"}, 401
        return {"verified": True, "fields": request.form.to_dict(flat=False)}


@pytest.fixture
def twins(app: Flask) -> Flask:
    register_twins(app)
    return app


@pytest.mark.parametrize("body", BODIES)
def test_the_view_reads_the_body_as_it_would_undecorated(
    twins: Flask, client: FlaskClient, body: str
) -> None:
    for reader in READERS:
        plain = client.post(f"/plain/{reader}", **BODIES[body]())
        decorated = client.post(f"/idempotent/{reader}", **BODIES[body]())

        assert plain.status_code == 200, (reader, plain.data)
        assert decorated.status_code == 200, (reader, decorated.data)
        assert decorated.json == plain.json, reader
    # The comparison means something: undecorated, the view does see the body.
    assert client.post("/plain/get_data", **BODIES[body]()).json != {"seen": ""}


# One value in each body, changed for a retry that is not the same request.
CHANGES = {
    "form": (b"first", b"other"),
    "multipart with a file": (b"first", b"other"),
    "json": (b'"amount": 3', b'"amount": 4'),
    "raw bytes": (b"\x00\x01", b"\x01\x00"),
}


@pytest.mark.parametrize("body", CHANGES)
def test_a_retry_with_the_same_body_replays_and_a_changed_body_is_refused(
    twins: Flask, client: FlaskClient, body: str
) -> None:
    first = client.post("/idempotent/get_data", headers=headers("twin"), **BODIES[body]())
    retry = client.post("/idempotent/get_data", headers=headers("twin"), **BODIES[body]())
    changed = BODIES[body]()
    changed["data"] = changed["data"].replace(*CHANGES[body])
    different = client.post("/idempotent/get_data", headers=headers("twin"), **changed)

    assert first.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert different.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"event": "paid", "amount": "5"}},  # form-encoded, as many webhooks are
        {"json": {"event": "paid", "amount": 5}},
        {"data": b"event=paid", "content_type": "text/plain"},
    ],
    ids=["form", "json", "text"],
)
def test_a_webhook_verifies_an_hmac_over_the_raw_body(
    twins: Flask, client: FlaskClient, body: dict[str, Any]
) -> None:
    # The signature is made over the bytes the test client will send.
    sent = client.post("/plain/get_data", **body).json
    assert sent is not None
    raw = bytes.fromhex(sent["seen"])
    signature = hmac.new(WEBHOOK_SECRET, raw, hashlib.sha256).hexdigest()

    response = client.post(
        "/webhook", headers=headers("evt_1", **{"X-Signature": signature}), **body
    )
    replay = client.post("/webhook", headers=headers("evt_1", **{"X-Signature": signature}), **body)

    assert response.status_code == 200, response.data
    assert response.json is not None and response.json["verified"] is True
    assert replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("early_reader", ["form", "data", "get_data"])
def test_a_body_read_before_the_view_is_still_fingerprinted(app: Flask, early_reader: str) -> None:
    @app.before_request
    def read_first() -> None:
        READERS[early_reader]()

    register_twins(app)
    client = app.test_client()

    plain = client.post("/plain/form", data={"name": "Ada"})
    first = client.post("/idempotent/form", headers=headers("early"), data={"name": "Ada"})
    retry = client.post("/idempotent/form", headers=headers("early"), data={"name": "Ada"})
    different = client.post("/idempotent/form", headers=headers("early"), data={"name": "Bob"})

    assert first.json == plain.json == {"seen": {"name": ["Ada"]}}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert different.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        lambda: {"data": b"x" * 101, "content_type": "application/octet-stream"},
        lambda: {
            "data": b"name=" + b"x" * 101,
            "content_type": "application/x-www-form-urlencoded",
        },
        lambda: chunked(b"x" * 101, "application/octet-stream"),
        lambda: chunked(b"name=" + b"x" * 101, "application/x-www-form-urlencoded"),
    ],
    ids=["raw", "form", "chunked raw", "chunked form"],
)
def test_a_body_over_the_limit_is_still_a_413_and_stores_nothing(
    make_app: Callable[..., Flask], body: Callable[[], dict[str, Any]]
) -> None:
    app = make_app(IDEMPOTENCY_MAX_BODY_SIZE=100)
    register_twins(app)

    response = send(app.test_client(), "/idempotent/get_data", body(), key="big")

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert stored_keys(app) == []


@pytest.mark.parametrize("size", [99, 100])
def test_a_chunked_body_up_to_the_limit_reaches_the_view_whole(
    make_app: Callable[..., Flask], size: int
) -> None:
    app = make_app(IDEMPOTENCY_MAX_BODY_SIZE=100)
    register_twins(app)
    body = bytes(range(size))

    response = send(
        app.test_client(), "/idempotent/get_data", chunked(body, "application/octet-stream"), "k"
    )

    assert response.status_code == 200
    assert response.json == {"seen": body.hex()}
