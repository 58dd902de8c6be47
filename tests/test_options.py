"""Options where Flask users look for them: on the view, on its blueprint through
``Idempotency.protect``, on the app; the view's win over the blueprint's, which win over the
app's, which win over ``IDEMPOTENCY_*``, option by option."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, request
from werkzeug.test import TestResponse

from flask_idempotency import ConfigurationError, Idempotency, idempotent
from tests.helpers import headers, stored_keys
from tests.key_rows import lock_as_dead_worker
from tests.ledger_app import create_app, db, idempotency


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Flask:
    """The ledger app on SQLite alone, for what does not depend on the database."""
    app = create_app(f"sqlite:///{tmp_path / 'options.sqlite'}", tmp_path)
    with app.app_context():
        db.create_all()
    return app


def counting_view(runs: Counter[str], name: str) -> Callable[[], Any]:
    def view() -> Any:
        runs[name] += 1
        return {"view": name, "run": runs[name]}, 201

    view.__name__ = name
    return view


def twice(app: Flask, method: str, path: str, key: str | None = "") -> list[TestResponse]:
    """The same request twice with one key: ``path`` itself unless given, None for none."""
    client = app.test_client()
    key = f"{method}:{path}" if key == "" else key
    return [client.open(path, method=method, headers=headers(key), json={}) for _ in range(2)]


def replayed(response: TestResponse) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


def test_protect_covers_every_unsafe_view_of_a_blueprint_and_only_those(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()
    shop = Blueprint("shop", __name__)
    shop.add_url_rule("/orders", view_func=counting_view(runs, "orders"), methods=["POST"])
    shop.add_url_rule("/browse", view_func=counting_view(runs, "browse"), methods=["GET"])
    idempotency.protect(shop)
    # A route added after protect() is covered too.
    shop.add_url_rule("/refunds", view_func=counting_view(runs, "refunds"), methods=["PUT"])
    sqlite_app.register_blueprint(shop, url_prefix="/shop")
    sqlite_app.add_url_rule("/outside", view_func=counting_view(runs, "outside"), methods=["POST"])

    orders = twice(sqlite_app, "POST", "/shop/orders")
    refunds = twice(sqlite_app, "PUT", "/shop/refunds")
    browse = twice(sqlite_app, "GET", "/shop/browse")
    outside = twice(sqlite_app, "POST", "/outside", key="other")

    assert [replayed(r) for r in orders] == [False, True]
    assert [replayed(r) for r in refunds] == [False, True]
    assert orders[1].data == orders[0].data
    assert not any(replayed(r) for r in browse + outside)
    assert runs == Counter(orders=1, refunds=1, browse=2, outside=2)


def test_protect_reaches_blueprints_nested_in_the_protected_one(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()
    api = Blueprint("api", __name__)
    payments = Blueprint("payments", __name__)
    payments.add_url_rule("/pay", view_func=counting_view(runs, "pay"), methods=["POST"])
    api.register_blueprint(payments, url_prefix="/payments")
    idempotency.protect(api)
    sqlite_app.register_blueprint(api, url_prefix="/api")

    responses = twice(sqlite_app, "POST", "/api/payments/pay")

    assert [replayed(r) for r in responses] == [False, True]
    assert runs["pay"] == 1


def test_an_exempt_view_of_a_protected_blueprint_runs_every_time(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()
    shop = Blueprint("shop", __name__)

    @shop.post("/webhook")
    @idempotency.exempt
    def webhook() -> Any:
        runs["webhook"] += 1
        return {"ok": True}

    shop.add_url_rule("/orders", view_func=counting_view(runs, "orders"), methods=["POST"])
    idempotency.protect(shop)
    sqlite_app.register_blueprint(shop)

    hooks = twice(sqlite_app, "POST", "/webhook")
    twice(sqlite_app, "POST", "/orders")

    assert not any(replayed(r) for r in hooks)
    assert "Idempotency-Key" not in hooks[0].headers
    assert runs == Counter(webhook=2, orders=1)


def test_protect_of_the_app_covers_views_outside_any_blueprint(tmp_path: Path) -> None:
    # An app of its own with an Idempotency of its own: protect(app) must not leak into the
    # other tests' apps.
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'whole.sqlite'}",
        IDEMPOTENCY_SCOPE="global",
    )
    own_db = SQLAlchemy(app)
    extension = Idempotency(app, own_db)
    runs: Counter[str] = Counter()
    app.add_url_rule("/pay", view_func=counting_view(runs, "pay"), methods=["POST"])
    app.add_url_rule(
        "/ping", view_func=extension.exempt(counting_view(runs, "ping")), methods=["POST"]
    )
    extension.protect(app, required=True)
    with app.app_context():
        own_db.create_all()

    without_key = app.test_client().post("/pay", json={})
    paid = twice(app, "POST", "/pay")
    pinged = twice(app, "POST", "/ping", key=None)

    assert without_key.status_code == 400
    assert [replayed(r) for r in paid] == [False, True]
    assert [r.status_code for r in pinged] == [201, 201]
    assert runs == Counter(pay=1, ping=2)


def test_the_view_wins_over_its_blueprint_which_wins_over_the_app(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()
    shop = Blueprint("shop", __name__)
    shop.add_url_rule("/strict", view_func=counting_view(runs, "strict"), methods=["POST"])

    @shop.post("/lenient")
    @idempotent(required=False)
    def lenient() -> Any:
        runs["lenient"] += 1
        return {"ok": True}, 201

    idempotency.protect(shop, required=True)
    sqlite_app.register_blueprint(shop)

    client = sqlite_app.test_client()
    assert client.post("/strict", json={}).status_code == 400
    assert client.post("/lenient", json={}).status_code == 201
    # The app's own view, outside the blueprint, keeps the app's default.
    assert client.post("/charges", json={"amount": 1}).status_code == 201


def test_a_view_option_leaves_the_other_options_to_its_blueprint(app: Flask) -> None:
    """On every database: the blueprint's ttl reaches a view that sets only ``wait``."""
    shop = Blueprint("shop", __name__)

    @shop.post("/carts")
    @idempotent(wait=0)
    def carts() -> Any:
        return {"ok": True}, 201

    idempotency.protect(shop, ttl=120, required=True)
    app.register_blueprint(shop)

    assert app.test_client().post("/carts", json={}).status_code == 400
    assert app.test_client().post("/carts", json={}, headers=headers("c")).status_code == 201
    [key] = stored_keys(app)
    assert key.expires_at is not None and key.created_at is not None
    assert abs((key.expires_at - key.created_at).total_seconds() - 120) < 1


def test_ttl_on_the_view_sets_how_long_its_keys_live(app: Flask) -> None:
    @app.post("/short-lived")
    @idempotent(ttl=60)
    def short_lived() -> Any:
        return {"ok": True}

    app.test_client().post("/short-lived", json={}, headers=headers("s"))
    app.test_client().post("/charges", json={"amount": 1}, headers=headers("d"))

    lifetimes = {
        key.idempotency_key: (key.expires_at - key.created_at).total_seconds()
        for key in stored_keys(app)
    }
    assert abs(lifetimes["s"] - 60) < 1
    assert abs(lifetimes["d"] - 24 * 60 * 60) < 1


@pytest.mark.parametrize(("lock_timeout", "status"), [(2, 201), (None, 409)])
def test_lock_timeout_on_the_view_decides_when_a_dead_holder_is_taken_over(
    app: Flask, lock_timeout: float | None, status: int
) -> None:
    @app.post("/leased")
    @idempotent(lock_timeout=lock_timeout)
    def leased() -> Any:
        if request.headers.get("X-Crash"):
            raise RuntimeError("the worker dies")
        return {"ok": True}, 201

    client = app.test_client()
    crashing = headers("l", **{"X-Crash": "1"})
    assert client.post("/leased", json={}, headers=crashing).status_code == 500
    lock_as_dead_worker(app, seconds_ago=5)

    # 5 s is past a 2 s lock timeout, and well inside the default 90 s one.
    assert client.post("/leased", json={}, headers=headers("l")).status_code == status


def test_methods_narrows_the_unsafe_methods_a_view_protects(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()

    @sqlite_app.route("/items", methods=["POST", "PUT"])
    @idempotent(methods=["post"])
    def items() -> Any:
        runs[request.method] += 1
        return {"method": request.method}

    posts = twice(sqlite_app, "POST", "/items")
    puts = twice(sqlite_app, "PUT", "/items")

    assert [replayed(r) for r in posts] == [False, True]
    assert not any(replayed(r) for r in puts)
    assert runs == Counter(POST=1, PUT=2)


def test_protect_with_methods_leaves_the_other_unsafe_methods_alone(sqlite_app: Flask) -> None:
    runs: Counter[str] = Counter()
    shop = Blueprint("shop", __name__)

    @shop.route("/basket", methods=["POST", "DELETE"])
    def basket() -> Any:
        runs[request.method] += 1
        return {"method": request.method}

    idempotency.protect(shop, methods=["DELETE"])
    sqlite_app.register_blueprint(shop)

    twice(sqlite_app, "POST", "/basket")
    deletes = twice(sqlite_app, "DELETE", "/basket")

    assert [replayed(r) for r in deletes] == [False, True]
    assert runs == Counter(POST=2, DELETE=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"methods": ["GET"]}, "safe methods always pass through"),
        ({"methods": "POST"}, "list of methods"),
        ({"methods": []}, "empty"),
        ({"ttl": 0}, "ttl must be positive"),
        ({"lock_timeout": -1}, "lock_timeout must be positive"),
        ({"wait": -1}, "wait must be zero or more"),
        ({"wait": "5"}, "wait must be a number of seconds"),
        ({"required": "yes"}, "required must be True or False"),
        ({"scope": "nobody"}, "scope"),
    ],
)
def test_bad_options_are_refused_where_they_are_written(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        idempotent(**options)
    with pytest.raises(ConfigurationError, match=message):
        idempotency.protect(Blueprint("bad", __name__), **options)


def test_protect_refuses_what_is_neither_a_blueprint_nor_an_app() -> None:
    with pytest.raises(TypeError, match="Blueprint or a Flask app"):
        idempotency.protect("shop")  # type: ignore[arg-type]


@pytest.mark.parametrize("target", [Blueprint("shop", __name__), Flask(__name__)])
def test_idempotent_given_a_blueprint_or_an_app_says_to_use_protect(target: Any) -> None:
    with pytest.raises(TypeError, match=r"idempotency\.protect"):
        idempotent(target)
