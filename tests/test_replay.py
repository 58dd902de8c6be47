"""A retry gets the first response again; a new key or a changed request does not."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from flask_idempotency import idempotent
from tests.helpers import charges, headers, stored_keys


def test_first_request_runs_and_echoes_the_key(client: FlaskClient, app: Flask) -> None:
    response = client.post("/charges", json={"amount": 100}, headers=headers("order-1"))

    assert response.status_code == 201
    assert response.headers["Idempotency-Key"] == "order-1"
    assert "Idempotency-Key" in response.headers["Access-Control-Expose-Headers"]
    assert "Idempotent-Replayed" not in response.headers
    assert charges(app) == 1


def test_retry_replays_the_stored_response_without_running_again(
    client: FlaskClient, app: Flask
) -> None:
    first = client.post("/charges", json={"amount": 100}, headers=headers("order-1"))
    retry = client.post("/charges", json={"amount": 100}, headers=headers("order-1"))

    assert retry.status_code == 201
    assert retry.data == first.data
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Idempotency-Key"] == "order-1"
    assert charges(app) == 1


def test_quoted_and_bare_keys_name_the_same_key(client: FlaskClient, app: Flask) -> None:
    client.post("/charges", json={"amount": 5}, headers=headers("abc-123"))
    retry = client.post("/charges", json={"amount": 5}, headers=headers('"abc-123"'))

    assert retry.headers["Idempotent-Replayed"] == "true"
    # The echo keeps the form the client used.
    assert retry.headers["Idempotency-Key"] == '"abc-123"'
    assert charges(app) == 1


def test_a_key_the_server_never_saw_is_stored_as_given(client: FlaskClient, app: Flask) -> None:
    client.post("/charges", json={"amount": 5}, headers=headers("client-chosen-key"))

    [key] = stored_keys(app)
    assert key.idempotency_key == "client-chosen-key"
    assert key.request_method == "POST"
    assert key.request_path == "/charges"
    assert key.request_params == {"query": {}, "json": {"amount": 5}}
    assert key.response_code == 201
    assert key.recovery_point == "finished"
    assert key.locked_at is None


def test_missing_key_gets_a_generated_uuid4_that_the_client_can_retry_with(
    client: FlaskClient, app: Flask
) -> None:
    response = client.post("/charges", json={"amount": 5})
    generated = response.headers["Idempotency-Key"]
    assert uuid.UUID(generated).version == 4

    retry = client.post("/charges", json={"amount": 5}, headers=headers(generated))
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def test_requests_without_a_key_never_share_a_record(client: FlaskClient, app: Flask) -> None:
    first = client.post("/charges", json={"amount": 5})
    second = client.post("/charges", json={"amount": 5})

    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
    assert charges(app) == 2


def test_required_key_missing_gives_400_problem(client: FlaskClient, app: Flask) -> None:
    response = client.post("/required")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json is not None and response.json["status"] == 400
    assert stored_keys(app) == []


def test_required_by_configuration(make_app: object) -> None:
    app = make_app(IDEMPOTENCY_REQUIRED=True)  # type: ignore[operator]
    response = app.test_client().post("/charges", json={"amount": 5})

    assert response.status_code == 400
    assert charges(app) == 0


def test_same_key_with_a_different_body_is_refused_with_422(
    client: FlaskClient, app: Flask
) -> None:
    client.post("/charges", json={"amount": 100}, headers=headers("k"))
    response = client.post("/charges", json={"amount": 999}, headers=headers("k"))

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.headers["Idempotency-Key"] == "k"
    assert charges(app) == 1


def test_same_key_with_another_path_or_query_is_refused_with_422(
    client: FlaskClient, app: Flask
) -> None:
    client.post("/charges", json={"amount": 100}, headers=headers("k"))

    assert (
        client.post("/charges?x=1", json={"amount": 100}, headers=headers("k")).status_code == 422
    )
    assert client.post("/text", headers=headers("k")).status_code == 422
    assert client.put("/charges", json={"amount": 100}, headers=headers("k")).status_code == 405


def test_json_key_order_and_whitespace_do_not_change_the_request(
    client: FlaskClient, app: Flask
) -> None:
    client.post(
        "/charges",
        data='{"amount": 100, "note": "x"}',
        content_type="application/json",
        headers=headers("k"),
    )
    retry = client.post(
        "/charges",
        data='{ "note":"x","amount":100 }',
        content_type="application/json",
        headers=headers("k"),
    )

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def test_malformed_json_gives_400_problem_and_stores_nothing(
    client: FlaskClient, app: Flask
) -> None:
    response = client.post(
        "/charges", data='{"amount": ', content_type="application/json", headers=headers("k")
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert stored_keys(app) == []


def test_form_bodies_are_part_of_the_request(client: FlaskClient, app: Flask) -> None:
    client.post("/text", data={"a": "1", "b": "2"}, headers=headers("form"))

    assert (
        client.post("/text", data={"b": "2", "a": "1"}, headers=headers("form")).headers[
            "Idempotent-Replayed"
        ]
        == "true"
    )
    assert client.post("/text", data={"a": "1", "b": "3"}, headers=headers("form")).status_code == (
        422
    )


def test_error_responses_the_view_returns_are_stored_and_replayed(
    client: FlaskClient, app: Flask
) -> None:
    first = client.post("/charges", json={"amount": -1}, headers=headers("bad"))
    retry = client.post("/charges", json={"amount": -1}, headers=headers("bad"))

    assert first.status_code == retry.status_code == 400
    assert retry.data == first.data
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_a_deliberate_5xx_is_stored_with_the_views_writes(client: FlaskClient, app: Flask) -> None:
    first = client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("five"))
    retry = client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("five"))

    assert first.status_code == retry.status_code == 503
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def test_abort_in_the_view_is_a_response_and_is_stored(client: FlaskClient, app: Flask) -> None:
    first = client.post("/missing", headers=headers("gone"))
    retry = client.post("/missing", headers=headers("gone"))

    assert first.status_code == retry.status_code == 404
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_unhandled_exception_gives_500_with_the_key_and_stores_nothing(
    client: FlaskClient, app: Flask
) -> None:
    crashed = client.post("/charges?crash=1", json={"amount": 7}, headers=headers("boom"))

    assert crashed.status_code == 500
    assert crashed.headers["Idempotency-Key"] == "boom"
    assert charges(app) == 0
    [key] = stored_keys(app)
    assert key.response_code is None
    assert key.locked_at is None

    # The key is free again: the retry runs (here it crashes the same way, and still is free).
    again = client.post("/charges?crash=1", json={"amount": 7}, headers=headers("boom"))
    assert again.status_code == 500
    assert "Idempotent-Replayed" not in again.headers


def test_text_html_and_binary_bodies_replay_exactly(client: FlaskClient, app: Flask) -> None:
    for path in ("/text", "/html", "/binary", "/json-spacing"):
        first = client.post(path, headers=headers(f"body-{path}"))
        retry = client.post(path, headers=headers(f"body-{path}"))

        assert retry.headers["Idempotent-Replayed"] == "true", path
        assert retry.data == first.data, path
        assert retry.headers["Content-Type"] == first.headers["Content-Type"], path


def test_streamed_response_is_a_clear_error_and_leaves_the_key_retryable(
    client: FlaskClient, app: Flask
) -> None:
    response = client.post("/stream", headers=headers("streamed"))

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "streamed" in response.json["detail"]  # type: ignore[index]
    [key] = stored_keys(app)
    assert key.response_code is None and key.locked_at is None


def test_async_views_are_supported(client: FlaskClient, app: Flask) -> None:
    first = client.post("/async", headers=headers("async"))
    retry = client.post("/async", headers=headers("async"))

    assert first.json == {"async": True}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def test_a_body_over_the_limit_gets_413_problem_and_stores_nothing(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_MAX_BODY_SIZE=1000)
    client = app.test_client()

    response = client.post(
        "/charges", json={"amount": 1, "note": "x" * 1000}, headers=headers("big")
    )

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert stored_keys(app) == []
    assert client.post("/charges", json={"amount": 1}, headers=headers("small")).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        '{"amount": 1, "note": "nul \\u0000 inside"}',
        '{"amount": 1, "note": "lone \\ud800 surrogate"}',
        '{"amount": 1, "deep": ' + "[" * 40 + "]" * 40 + "}",
    ],
    ids=["nul", "surrogate", "deep"],
)
def test_json_no_database_can_store_is_kept_as_a_digest_and_still_replays(
    client: FlaskClient, app: Flask, body: str
) -> None:
    def send(data: str) -> Any:
        return client.post(
            "/anything/x", data=data, content_type="application/json", headers=headers("odd")
        )

    first, retry, other = send(body), send(body), send('{"amount": 1}')

    assert first.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    [key] = stored_keys(app)
    assert set(key.request_params) == {"params_sha256"}


def test_a_path_no_database_can_store_is_kept_percent_encoded(
    client: FlaskClient, app: Flask
) -> None:
    first = client.post("/anything/nul%00here", headers=headers("path"))
    retry = client.post("/anything/nul%00here", headers=headers("path"))

    assert first.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    [key] = stored_keys(app)
    assert key.request_path == "/anything/nul%00here"


# --- Faithful representations -------------------------------------------------------------------

RECEIPT = b'{"receipt": "r-1", "lines": [' + b'{"item": "mug", "price": 1200}, ' * 40 + b"{}]}"

# One value for each header stored by default besides Content-Type, as a view might send them.
REPRESENTATION_HEADERS = [
    ("Content-Encoding", "gzip"),
    ("Content-Language", "de-CH"),
    ("Content-Disposition", 'attachment; filename="receipt-r-1.json.gz"'),
    ("Location", "/receipts/r-1"),
    ("Link", '</receipts/r-1.pdf>; rel="alternate"; type="application/pdf"'),
    ("Link", '</carts/c-1>; rel="up"'),
    ("ETag", '"r-1-v1"'),
    ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("Cache-Control", "private, max-age=60"),
    ("Vary", "Accept-Encoding, Accept-Language"),
]


def register_receipt_view(app: Flask) -> None:
    """``POST /receipts``: a gzip-encoded JSON receipt with every representation header, and a
    session cookie."""

    @app.post("/receipts")
    @idempotent
    def receipt() -> Response:
        response = Response(gzip.compress(RECEIPT), status=201, mimetype="application/json")
        for name, value in REPRESENTATION_HEADERS:
            response.headers.add(name, value)
        response.set_cookie("session", "secret-session-of-the-first-caller")
        return response


@pytest.mark.parametrize(
    "name", sorted({name for name, _ in REPRESENTATION_HEADERS}), ids=lambda name: name
)
def test_every_representation_header_is_replayed_by_default(app: Flask, name: str) -> None:
    register_receipt_view(app)
    client = app.test_client()

    first = client.post("/receipts", headers=headers("receipt"))
    retry = client.post("/receipts", headers=headers("receipt"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    sent = [value for header, value in REPRESENTATION_HEADERS if header == name]
    assert first.headers.getlist(name) == sent
    assert retry.headers.getlist(name) == sent


def test_a_gzip_encoded_response_replays_byte_for_byte_and_still_decodes(app: Flask) -> None:
    register_receipt_view(app)
    client = app.test_client()

    first = client.post("/receipts", headers=headers("gzip"))
    retry = client.post("/receipts", headers=headers("gzip"))

    assert retry.status_code == first.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Content-Encoding"] == "gzip"
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.data == first.data
    assert int(retry.headers["Content-Length"]) == len(first.data)
    assert gzip.decompress(retry.data) == RECEIPT


def test_set_cookie_is_neither_stored_nor_replayed(app: Flask) -> None:
    register_receipt_view(app)
    client = app.test_client(use_cookies=False)

    first = client.post("/receipts", headers=headers("cookie"))
    retry = client.post("/receipts", headers=headers("cookie"))

    assert "session=secret-session-of-the-first-caller" in first.headers["Set-Cookie"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Set-Cookie" not in retry.headers
    [key] = stored_keys(app)
    assert "secret-session" not in json.dumps(key.response_headers)


def test_set_cookie_is_never_replayed_even_when_configured(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_STORED_HEADERS=["Set-Cookie", "set-cookie", "ETag"])
    register_receipt_view(app)
    client = app.test_client(use_cookies=False)

    client.post("/receipts", headers=headers("configured"))
    retry = client.post("/receipts", headers=headers("configured"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["ETag"] == '"r-1-v1"'
    assert "Set-Cookie" not in retry.headers
    # Only what is configured is kept: the other representation headers are not.
    assert "Content-Language" not in retry.headers
