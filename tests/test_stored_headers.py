"""Each stored header once: the names of IDEMPOTENCY_STORED_HEADERS match without case, a name
listed twice (or Content-Type, which is stored anyway) is stored once, a header with several
values keeps them all in order, and the headers never stored stay refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask, Response

from flask_idempotency import idempotent
from flask_idempotency.config import DEFAULTS, Settings
from tests.helpers import headers, stored_keys
from tests.ledger_app import db

SENT_HEADERS = [
    ("Location", "/charges/c-1"),
    ("ETag", '"c-1-v1"'),
    ("Link", '</charges/c-1/receipt>; rel="related"'),
    ("Link", '</customers/ada>; rel="up"'),
    ("Vary", "Accept-Encoding"),
    ("Vary", "Accept-Language"),
]


def register_charge_view(app: Flask) -> None:
    """``POST /represented``: a JSON answer with every header of ``SENT_HEADERS``, a cookie."""

    @app.post("/represented")
    @idempotent
    def represented() -> Response:
        response = Response('{"id": "c-1"}', status=201, mimetype="application/json")
        for name, value in SENT_HEADERS:
            response.headers.add(name, value)
        response.set_cookie("session", "first-callers-session")
        return response


def test_content_type_listed_with_the_others_is_replayed_once(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_STORED_HEADERS=("Content-Type", "Location", "ETag"))
    register_charge_view(app)
    client = app.test_client(use_cookies=False)

    first = client.post("/represented", headers=headers("typed"))
    retry = client.post("/represented", headers=headers("typed"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert first.headers.getlist("Content-Type") == ["application/json"]
    assert retry.headers.getlist("Content-Type") == ["application/json"]
    assert retry.headers.getlist("Location") == ["/charges/c-1"]
    assert retry.headers.getlist("ETag") == ['"c-1-v1"']
    [key] = stored_keys(app)
    assert [name.lower() for name, _ in key.response_headers or []] == [
        "content-type",
        "location",
        "etag",
    ]


@pytest.mark.parametrize(
    "stored",
    [("ETag", "etag"), ("etag", "ETAG", "ETag"), ("etag",)],
    ids=["twice", "three-spellings", "lower-case"],
)
def test_a_name_matches_without_case_and_is_stored_once(
    make_app: Callable[..., Flask], stored: tuple[str, ...]
) -> None:
    app = make_app(IDEMPOTENCY_STORED_HEADERS=stored)
    register_charge_view(app)
    client = app.test_client(use_cookies=False)

    client.post("/represented", headers=headers("etag"))
    retry = client.post("/represented", headers=headers("etag"))

    assert retry.headers.getlist("ETag") == ['"c-1-v1"']
    [key] = stored_keys(app)
    assert key.response_headers == [["Content-Type", "application/json"], ["ETag", '"c-1-v1"']]


def test_every_value_of_a_header_is_kept_in_order_however_often_it_is_listed(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_STORED_HEADERS=("Link", "link", "VARY", "Vary", "LINK"))
    register_charge_view(app)
    client = app.test_client(use_cookies=False)

    first = client.post("/represented", headers=headers("several"))
    retry = client.post("/represented", headers=headers("several"))

    for name in ("Link", "Vary"):
        sent = [value for header, value in SENT_HEADERS if header == name]
        assert first.headers.getlist(name) == sent
        assert retry.headers.getlist(name) == sent, name


def test_the_default_list_replays_each_header_as_sent(app: Flask) -> None:
    register_charge_view(app)
    client = app.test_client(use_cookies=False)

    first = client.post("/represented", headers=headers("defaults"))
    retry = client.post("/represented", headers=headers("defaults"))

    for name in ("Content-Type", "Location", "ETag", "Link", "Vary"):
        assert retry.headers.getlist(name) == first.headers.getlist(name), name


def test_headers_never_stored_stay_refused_in_any_case(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        IDEMPOTENCY_STORED_HEADERS=(
            "SET-COOKIE",
            "Set-Cookie",
            "content-length",
            "Idempotency-Key",
            "ETag",
        )
    )
    register_charge_view(app)
    client = app.test_client(use_cookies=False)

    first = client.post("/represented", headers=headers("refused"))
    retry = client.post("/represented", headers=headers("refused"))

    assert "first-callers-session" in first.headers["Set-Cookie"]
    assert "Set-Cookie" not in retry.headers
    assert retry.headers.getlist("Content-Length") == [str(len(first.data))]
    assert retry.headers.getlist("Idempotency-Key") == ["refused"]
    [key] = stored_keys(app)
    assert key.response_headers == [["Content-Type", "application/json"], ["ETag", '"c-1-v1"']]


def test_a_key_stored_with_content_type_twice_replays_it_once(app: Flask) -> None:
    register_charge_view(app)
    client = app.test_client(use_cookies=False)
    client.post("/represented", headers=headers("doubled"))
    with app.app_context():
        db.session.execute(
            sa.update(db.metadata.tables["idempotency_key"]).values(
                response_headers=[
                    ["Content-Type", "application/json"],
                    ["Content-Type", "application/json"],
                    ["ETag", '"c-1-v1"'],
                ]
            )
        )
        db.session.commit()

    retry = client.post("/represented", headers=headers("doubled"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers.getlist("Content-Type") == ["application/json"]
    assert retry.headers.getlist("ETag") == ['"c-1-v1"']


@pytest.mark.parametrize(
    ("configured", "settled"),
    [
        (("ETag", "etag"), ("ETag",)),
        (("etag", "ETag"), ("etag",)),
        (("Content-Type", "Location", "ETag"), ("Location", "ETag")),
        (("Link", "Set-Cookie", "LINK", "content-length", "Vary"), ("Link", "Vary")),
        ((), ()),
    ],
)
def test_the_settings_list_each_name_once_in_its_first_spelling(
    configured: tuple[str, ...], settled: tuple[str, ...]
) -> None:
    settings = Settings.from_config(
        {**DEFAULTS, "IDEMPOTENCY_STORED_HEADERS": configured}, scope=lambda: ""
    )

    assert settings.stored_headers == settled
