"""What a key must not give away: another principal's response, the credentials of the requests
it served (in the key table, in stored headers), or itself (in the logs)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from sqlalchemy import func, select

from example_app.extensions import db, idempotency
from flask_idempotency import idempotent
from tests.reliability.conftest import Figures, ServeStorefront, add_figures, another_storefront
from tests.reliability.shop_client import Shop, the_one_original
from tests.served import Reply

HEADER = "Idempotency-Key"
FAULT = "X-Storefront-Fault"
DELAY = "X-Storefront-Delay"


class InProcessShop:
    """The storefront through Flask's test client, with the interface of ``Shop``."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        # A client per call: the test client's cookie jar must not add cookies of its own.
        client = self.app.test_client(use_cookies=False)
        response = client.open(path, method=method, json=body, headers=headers or {})
        return Reply(response.status_code, dict(response.headers), response.data)


AnyShop = Shop | InProcessShop


class Counted:
    """A shop that counts the requests sent through it."""

    def __init__(self, shop: AnyShop) -> None:
        self.shop = shop
        self.requests = 0
        self._lock = threading.Lock()

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        with self._lock:
            self.requests += 1
        return self.shop.call(method, path, body, headers)


def distinctive_key(tag: str) -> str:
    """A 36-character key that cannot turn up anywhere by accident."""
    return f"{tag}-{uuid.uuid4().hex}{uuid.uuid4().hex}"[:36]


def key_is_held(app: Flask, key: str) -> bool:
    with app.app_context():
        model = idempotency.model
        held = db.session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.idempotency_key == key, model.locked_at.is_not(None))
        )
        db.session.remove()
    return bool(held)


def wait_until_held(app: Flask, key: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not key_is_held(app, key):
        assert time.monotonic() < deadline, f"no request ever held {key}"
        time.sleep(0.01)


def new_cart(shop: Counted, headers: dict[str, str]) -> str:
    created = shop.call("POST", "/store/carts", headers=headers)
    assert created.status == 200, created
    cart_id: str = created.json()["cart"]["id"]
    added = shop.call(
        "POST",
        f"/store/carts/{cart_id}/line-items",
        {"variant_id": "variant_mug", "quantity": 1},
        headers,
    )
    assert added.status == 200, added
    return cart_id


def exercise_every_outcome(shop: Counted, app: Flask, headers: dict[str, str]) -> list[str]:
    """A first request and its replay, a 422 mismatch, a failure and its resume, and a 409
    conflict, each under a distinctive key, all sent with ``headers``; the keys used."""
    keys = {tag: distinctive_key(tag) for tag in ("replay", "fail", "clash")}

    first = shop.call("POST", "/store/carts", headers={**headers, HEADER: keys["replay"]})
    again = shop.call("POST", "/store/carts", headers={**headers, HEADER: keys["replay"]})
    assert first.status == 200 and not first.replayed, first
    assert again.replayed and again.body == first.body, again
    cart_id = first.json()["cart"]["id"]

    mismatch = shop.call(
        "POST",
        f"/store/carts/{cart_id}/line-items",
        {"variant_id": "variant_mug", "quantity": 1},
        {**headers, HEADER: keys["replay"]},
    )
    assert mismatch.status == 422, mismatch

    added = shop.call(
        "POST",
        f"/store/carts/{cart_id}/line-items",
        {"variant_id": "variant_tshirt_m", "quantity": 2},
        headers,
    )
    assert added.status == 200, added
    complete = f"/store/carts/{cart_id}/complete"
    failed = shop.call(
        "POST", complete, headers={**headers, HEADER: keys["fail"], FAULT: "payment_authorized"}
    )
    assert failed.status == 500, failed
    resumed = shop.call("POST", complete, headers={**headers, HEADER: keys["fail"]})
    replayed = shop.call("POST", complete, headers={**headers, HEADER: keys["fail"]})
    assert resumed.status == 200 and not resumed.replayed, resumed
    assert replayed.replayed and replayed.body == resumed.body, replayed

    clash_path = f"/store/carts/{new_cart(shop, headers)}/complete"
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(
            shop.call, "POST", clash_path, None, {**headers, HEADER: keys["clash"], DELAY: "1"}
        )
        wait_until_held(app, keys["clash"])
        duplicate = shop.call("POST", clash_path, headers={**headers, HEADER: keys["clash"]})
        original = held.result(timeout=60)
    # The duplicate is sent while the original holds the key, and almost always answers 409;
    # on a loaded machine (or on SQLite, whose single writer makes its claim wait) it may be
    # served only after the original finished, and then replays it. Both are right.
    assert the_one_original([original, duplicate]) is original
    return list(keys.values())


# --- Principals ---------------------------------------------------------------------------------

PRINCIPALS = {
    "alice": {"Authorization": "Bearer alice-token"},
    "bob": {"Authorization": "Bearer bob-token"},
    "basic": {"Authorization": "Basic Ym9iOmh1bnRlcjI="},
    "anonymous": {},
}


def assert_principals_are_kept_apart(shop: Counted, replays: int) -> None:
    key = distinctive_key("shared")
    firsts = {
        name: shop.call("POST", "/store/carts", headers={**credentials, HEADER: key})
        for name, credentials in PRINCIPALS.items()
    }
    for name, reply in firsts.items():
        assert reply.status == 200 and not reply.replayed, (name, reply)
    carts = {name: reply.json()["cart"]["id"] for name, reply in firsts.items()}
    assert len(set(carts.values())) == len(PRINCIPALS), carts

    for _ in range(replays):
        for name, credentials in PRINCIPALS.items():
            reply = shop.call("POST", "/store/carts", headers={**credentials, HEADER: key})
            assert reply.replayed, (name, reply)
            assert reply.body == firsts[name].body, (name, reply)
            assert reply.json()["cart"]["id"] == carts[name]


def test_one_key_under_two_principals_gives_each_its_own_cart(
    storefront: Flask, figures: Figures
) -> None:
    shop = Counted(InProcessShop(storefront))

    assert_principals_are_kept_apart(shop, replays=3)

    add_figures(figures, requests=shop.requests)


def test_one_key_under_two_principals_gives_each_its_own_cart_across_processes(
    serve_storefront: ServeStorefront, figures: Figures
) -> None:
    with serve_storefront() as server:
        shop = Counted(Shop(server.port))

        # Enough replays that every principal's replays land on several workers.
        assert_principals_are_kept_apart(shop, replays=8)

    add_figures(figures, requests=shop.requests)


# --- Credentials are not stored -----------------------------------------------------------------


def secrets() -> tuple[str, str, dict[str, str]]:
    """A distinctive bearer token and session cookie, and the headers that carry them."""
    token, cookie = f"tok-{uuid.uuid4().hex}", f"cookie-{uuid.uuid4().hex}"
    return token, cookie, {"Authorization": f"Bearer {token}", "Cookie": f"session={cookie}"}


def stored_text(app: Flask) -> list[str]:
    """Every column of every row of the key table, as text."""
    with app.app_context():
        model = idempotency.model
        columns = [column.key for column in model.__table__.columns]  # type: ignore[attr-defined]
        texts = []
        for row in db.session.scalars(select(model)):
            for column in columns:
                value = getattr(row, column)
                if isinstance(value, bytes):
                    texts.append(value.decode("latin-1"))
                else:
                    texts.append(str(value))
                    texts.append(json.dumps(value, default=str))
        db.session.remove()
    return texts


def test_no_authorization_or_cookie_value_is_stored(storefront: Flask, figures: Figures) -> None:
    token, cookie, credentials = secrets()
    shop = Counted(InProcessShop(storefront))

    exercise_every_outcome(shop, storefront, credentials)
    unknown = shop.call(
        "POST", "/store/carts/cart_none/complete", headers={**credentials, HEADER: "view-404"}
    )
    assert unknown.status == 404

    texts = stored_text(storefront)
    assert len(texts) > 20
    for text in texts:
        assert token not in text
        assert cookie not in text
    add_figures(figures, requests=shop.requests)


# --- Set-Cookie is not stored -------------------------------------------------------------------


def storefront_with_a_cookie_route(database_url: str, cookie: str) -> AbstractContextManager[Flask]:
    """Another storefront app on the ``storefront`` fixture's database, with an idempotent
    route that sets a session cookie and a Location."""

    def add_cookie_route(app: Flask) -> None:
        @app.post("/store/sessions")
        @idempotent
        def open_session() -> Response:
            response = jsonify(session_id=uuid.uuid4().hex)
            response.status_code = 201
            response.headers["Location"] = "/store/sessions/current"
            response.set_cookie("session", cookie, httponly=True)
            return response

    return another_storefront(database_url, prepare=add_cookie_route)


def test_set_cookie_is_neither_stored_nor_replayed(
    storefront: Flask, database_url: str, figures: Figures
) -> None:
    cookie = f"cookie-{uuid.uuid4().hex}"
    with storefront_with_a_cookie_route(database_url, cookie) as app:
        client = app.test_client(use_cookies=False)

        first = client.post("/store/sessions", headers={HEADER: "session-1"})
        replay = client.post("/store/sessions", headers={HEADER: "session-1"})

        with app.app_context():
            model = idempotency.model
            stored = db.session.scalars(
                select(model).where(model.idempotency_key == "session-1")
            ).one()
            stored_headers = [[str(part) for part in pair] for pair in stored.response_headers]
            db.session.remove()

    assert first.status_code == 201
    assert cookie in first.headers["Set-Cookie"]
    assert first.headers["Location"] == "/store/sessions/current"

    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == first.data
    assert replay.headers["Location"] == "/store/sessions/current"
    assert "Set-Cookie" not in replay.headers

    assert ["Location", "/store/sessions/current"] in stored_headers
    assert all(name.lower() != "set-cookie" for name, _ in stored_headers), stored_headers
    assert cookie not in json.dumps(stored_headers)
    add_figures(figures, requests=2)


# --- Keys are not logged ------------------------------------------------------------------------


def logged_text(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
    return "\n".join(parts)


@pytest.fixture
def every_log_record(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("flask_idempotency", "example_app", "werkzeug", "flask"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_keys_are_never_logged_in_full(
    storefront: Flask,
    every_log_record: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    shop = Counted(InProcessShop(storefront))

    keys = exercise_every_outcome(shop, storefront, {})

    records = every_log_record.records
    # The failure was logged, with its traceback, and the extension's debug lines too.
    assert any(record.exc_info for record in records)
    assert any(record.name == "flask_idempotency" for record in records)
    text = logged_text(records)
    for key in keys:
        assert key not in text
    add_figures(figures, requests=shop.requests)


# Merged by gunicorn into its default logging configuration: every logger at DEBUG, the access
# log included, all to stderr, which is the log file the server fixture keeps.
GUNICORN_DEBUG_LOGGING = {
    "root": {"level": "DEBUG", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "DEBUG", "propagate": True},
        "gunicorn.access": {"level": "DEBUG", "propagate": True},
    },
}


def test_keys_are_never_logged_in_full_by_gunicorn(
    storefront: Flask,
    serve_storefront: ServeStorefront,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    figures: Figures,
) -> None:
    token, cookie, credentials = secrets()
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps(GUNICORN_DEBUG_LOGGING))
    monkeypatch.setenv("GUNICORN_CMD_ARGS", f"--log-config-json {log_config}")
    with serve_storefront() as server:
        shop = Counted(Shop(server.port))

        keys = exercise_every_outcome(shop, storefront, credentials)

    log = server.log_path.read_text(errors="replace")
    # Everything was logged to the file read here: the failure's traceback, the extension's
    # debug lines, gunicorn's debug and access lines.
    assert "InjectedFault" in log
    assert "replaying key" in log
    assert '"POST /store/carts HTTP/1.1" 200' in log
    for key in keys:
        assert key not in log
    assert token not in log
    assert cookie not in log
    add_figures(figures, requests=shop.requests)
