"""A small app for the extension's tests: a ledger of charges, taken in one step or in stages.

Every effect is a row, so a test can count rows to see that nothing happened twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, request, stream_with_context
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from flask_idempotency import Idempotency, idempotent, stage

db = SQLAlchemy()
idempotency = Idempotency(db=db)


class Charge(db.Model):  # type: ignore[name-defined, misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[int]
    note: Mapped[str] = mapped_column(String(64), default="")


class Effect(db.Model):  # type: ignore[name-defined, misc]
    """One row per stage body that committed: the ledger of what each stage did."""

    id: Mapped[int] = mapped_column(primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(64))


class Gate:
    """Lets a test hold a request inside its view, and know when it got there."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def pass_through(self) -> None:
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the test never released the gate")


def create_app(database_url: str, instance_path: Path, **config: Any) -> Flask:
    app = Flask(__name__, instance_path=str(instance_path))
    app.config.update(
        TESTING=True,
        # Unhandled exceptions become 500 responses, as in production.
        PROPAGATE_EXCEPTIONS=False,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20}
        if not database_url.startswith("sqlite")
        else {},
        GATES={},
        IDEMPOTENCY_SCOPE="authorization",
    )
    app.config.update(config)
    db.init_app(app)
    idempotency.init_app(app)
    register_views(app)
    return app


def gate(name: str) -> None:
    found: Gate | None = current_app.config["GATES"].get(name)
    if found is not None:
        found.pass_through()


def register_views(app: Flask) -> None:
    @app.post("/charges")
    @idempotent
    def create_charge() -> Any:
        payload = request.get_json(silent=True) or {}
        amount = payload.get("amount")
        if not isinstance(amount, int) or amount <= 0:
            return {"error": "amount must be a positive integer"}, 400
        gate("charge")
        # A slow payment provider, so that duplicates sent across processes overlap.
        time.sleep(float(request.args.get("delay", 0)))
        charge = Charge(amount=amount, note=payload.get("note", ""))
        db.session.add(charge)
        db.session.flush()
        if request.args.get("crash"):
            raise RuntimeError("crash after the charge was written")
        if request.args.get("teapot"):
            return {"id": charge.id, "error": "deliberate"}, 503
        return {"id": charge.id, "amount": amount}, 201, {"Location": f"/charges/{charge.id}"}

    @app.post("/orders/<ref>")
    @idempotent
    def place_order(ref: str) -> Any:
        """Three stages, each writing one Effect row; X-Fail-At makes a stage fail after writing."""
        fail_at = request.headers.get("X-Fail-At")
        for name in ("reserved", "charged", "shipped"):
            with stage(name) as step:
                if step.pending:
                    gate(name)
                    db.session.add(Effect(order_ref=ref, stage=name))
                    db.session.flush()
                    if fail_at == name:
                        raise RuntimeError(f"failure injected in {name}")
        return {"order": ref, "stages": 3}

    @app.post("/anything/<path:rest>")
    @idempotent
    def anything(rest: str) -> Any:
        """Writes nothing of what it is sent, so any path or body reaches only the extension."""
        return {"length": len(rest)}

    @app.post("/text")
    @idempotent
    def text() -> Response:
        return Response("plain  text\n with  spacing", mimetype="text/plain")

    @app.post("/html")
    @idempotent
    def html() -> Response:
        return Response("<p>caf\u00e9</p>", content_type="text/html; charset=utf-8")

    @app.post("/binary")
    @idempotent
    def binary() -> Response:
        return Response(bytes(range(256)) * 300, mimetype="application/octet-stream")

    @app.post("/json-spacing")
    @idempotent
    def json_spacing() -> Response:
        return Response('{"b": 1,   "a": [2, 1]}', mimetype="application/json")

    @app.post("/stream")
    @idempotent
    def stream() -> Response:
        def chunks() -> Any:
            yield "one"
            yield "two"

        return Response(stream_with_context(chunks()), mimetype="text/plain")

    @app.post("/missing")
    @idempotent
    def missing() -> Any:
        abort(404)

    @app.post("/async")
    @idempotent
    async def asynchronous() -> Any:
        db.session.add(Charge(amount=7, note="async"))
        return {"async": True}

    @app.post("/required")
    @idempotent(required=True)
    def required_key() -> Any:
        return {"ok": True}

    @app.post("/waits")
    @idempotent(wait=10)
    def waits() -> Any:
        gate("waits")
        charge = Charge(amount=1, note="waits")
        db.session.add(charge)
        db.session.flush()
        return {"id": charge.id}
