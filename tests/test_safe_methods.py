"""GET, HEAD and OPTIONS are idempotent by definition: ``@idempotent`` lets them through
untouched, runs the view every time, and stores nothing, whatever key they carry."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.test import TestResponse

from flask_idempotency import idempotent
from tests.helpers import headers, stored_keys

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def register_catalogue(app: Flask) -> Counter[str]:
    """``/catalogue`` answers GET (and so HEAD), OPTIONS and POST through ``@idempotent``;
    ``/plain-catalogue`` is the same view undecorated. Returns how often each method ran the
    decorated view."""
    runs: Counter[str] = Counter()

    def catalogue() -> Response:
        if request.method == "OPTIONS":
            return Response(status=204, headers={"Allow": "GET, HEAD, OPTIONS, POST"})
        body = f'{{"method": "{request.method}", "items": 3}}'
        return Response(
            body,
            status=201 if request.method == "POST" else 200,
            mimetype="application/json",
            headers={"ETag": '"catalogue-v1"', "Cache-Control": "max-age=30"},
        )

    @app.route("/catalogue", methods=["GET", "OPTIONS", "POST"])
    @idempotent
    def decorated() -> Response:
        runs[request.method] += 1
        return catalogue()

    app.add_url_rule("/plain-catalogue", "plain", catalogue, methods=["GET", "OPTIONS", "POST"])
    return runs


def send(app: Flask, method: str, path: str, key: str | None = None) -> TestResponse:
    return app.test_client().open(path, method=method, headers=headers(key))


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_safe_request_with_a_key_runs_the_view_every_time_and_stores_nothing(
    app: Flask, method: str
) -> None:
    runs = register_catalogue(app)

    responses = [send(app, method, "/catalogue", "browse-1") for _ in range(3)]

    assert runs[method] == 3
    for response in responses:
        assert response.status_code in (200, 204)
        assert "Idempotent-Replayed" not in response.headers
    assert stored_keys(app) == []


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_safe_request_is_answered_as_if_the_view_were_undecorated(
    app: Flask, method: str
) -> None:
    register_catalogue(app)

    decorated = send(app, method, "/catalogue", "browse-2")
    plain = send(app, method, "/plain-catalogue", "browse-2")

    assert (decorated.status_code, decorated.data) == (plain.status_code, plain.data)
    assert sorted(decorated.headers.items()) == sorted(plain.headers.items())


def test_head_to_a_get_view_after_a_get_with_the_same_key_is_never_a_422(app: Flask) -> None:
    runs = register_catalogue(app)

    got = send(app, "GET", "/catalogue", "page-1")
    head = send(app, "HEAD", "/catalogue", "page-1")

    assert (got.status_code, head.status_code) == (200, 200)
    assert head.data == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert runs == Counter({"GET": 1, "HEAD": 1})
    assert stored_keys(app) == []


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_safe_request_reusing_a_posts_key_is_neither_refused_nor_a_replay(
    app: Flask, method: str
) -> None:
    runs = register_catalogue(app)
    posted = send(app, "POST", "/catalogue", "order-7")
    assert posted.status_code == 201

    safe = send(app, method, "/catalogue", "order-7")

    assert safe.status_code in (200, 204)
    assert "Idempotent-Replayed" not in safe.headers
    if method != "OPTIONS":
        assert safe.headers["Content-Type"] == "application/json"
    if method == "GET":
        assert safe.json == {"method": "GET", "items": 3}
    assert runs[method] == 1
    # The POST's key is as the POST left it, and still replays the POST's response.
    [key] = stored_keys(app)
    assert (key.request_method, key.response_code) == ("POST", 201)
    replay = send(app, "POST", "/catalogue", "order-7")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == posted.data
    assert runs["POST"] == 1


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_safe_request_without_a_key_passes_even_where_a_key_is_required(
    make_app: Any, method: str
) -> None:
    app: Flask = make_app(IDEMPOTENCY_REQUIRED=True)
    runs = register_catalogue(app)

    response = send(app, method, "/catalogue")

    assert response.status_code in (200, 204)
    assert runs[method] == 1
    assert send(app, "POST", "/catalogue").status_code == 400
    assert stored_keys(app) == []


@pytest.mark.parametrize("method", SAFE_METHODS)
def test_a_malformed_key_on_a_safe_request_is_not_looked_at(app: Flask, method: str) -> None:
    runs = register_catalogue(app)

    response = send(app, method, "/catalogue", "bad\x7fkey")

    assert response.status_code in (200, 204)
    assert runs[method] == 1
    assert stored_keys(app) == []
