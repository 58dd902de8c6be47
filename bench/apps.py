"""The apps the bench measures: one view that inserts a row, bare and under ``@idempotent``,
and the storefront, served together so one gunicorn serves every kind of request.

The two views run the same body; the only difference is who commits. The bare view commits
itself; the idempotent one leaves the commit to the extension, which stores the response in
the same transaction. A request carrying ``X-Bench-Hold`` waits inside the view until the
bench releases it, so that its duplicates meet a request in flight.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, current_app, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from flask_idempotency import Idempotency, idempotent

DATABASE_URL_VARIABLE = "BENCH_DATABASE_URL"
TABLE_NAME_VARIABLE = "BENCH_TABLE_NAME"
HOLD_HEADER = "X-Bench-Hold"
# Where the storefront is mounted when both apps are served together.
STOREFRONT_PREFIX = "/shop"
# Longer than any bench run: the held request stays in flight, never taken over as dead.
LOCK_TIMEOUT_SECONDS = 7200

db = SQLAlchemy()
idempotency = Idempotency(db=db)


class BenchCharge(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "bench_charge"

    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))


def record_charge() -> int:
    """The view's work: one row, flushed for its id."""
    if request.headers.get(HOLD_HEADER):
        current_app.config["BENCH_HELD"].set()
        hold: threading.Event = current_app.config["BENCH_HOLD"]
        if not hold.wait(timeout=LOCK_TIMEOUT_SECONDS):
            raise TimeoutError("the bench never released the held request")
    payload = request.get_json()
    charge = BenchCharge(amount=payload["amount"], currency=payload["currency"])
    db.session.add(charge)
    db.session.flush()
    return charge.id


def create_bench_app(database_url: str, table_name: str) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        IDEMPOTENCY_TABLE_NAME=table_name,
        # Callers are told apart by their Basic user name, as an API with accounts would be.
        IDEMPOTENCY_SCOPE="authorization",
        IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT_SECONDS,
        # Set by a held request once it is inside the view; set BENCH_HOLD to let it go on.
        BENCH_HELD=threading.Event(),
        BENCH_HOLD=threading.Event(),
    )
    db.init_app(app)
    idempotency.init_app(app)

    @app.post("/bare")
    def bare() -> Any:
        charge_id = record_charge()
        db.session.commit()
        return {"id": charge_id}, 201

    @app.post("/keyed")
    @idempotent
    def keyed() -> Any:
        charge_id = record_charge()
        return {"id": charge_id}, 201

    return app


def create_storefront(database_url: str, table_name: str) -> Flask:
    """The example storefront on the same database and the same key table."""
    from example_app import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "IDEMPOTENCY_TABLE_NAME": table_name}
    )


def bench_app_from_environment() -> Flask:
    """For ``flask --app``: the bench app on ``BENCH_DATABASE_URL`` and ``BENCH_TABLE_NAME``."""
    return create_bench_app(os.environ[DATABASE_URL_VARIABLE], os.environ[TABLE_NAME_VARIABLE])


def served() -> Any:
    """For gunicorn: the bench app, with the storefront under ``/shop`` when it loads."""
    database_url = os.environ[DATABASE_URL_VARIABLE]
    table_name = os.environ[TABLE_NAME_VARIABLE]
    mounts: dict[str, Any] = {}
    if os.environ.get("BENCH_STOREFRONT") == "1":
        mounts[STOREFRONT_PREFIX] = create_storefront(database_url, table_name)
    return DispatcherMiddleware(create_bench_app(database_url, table_name), mounts)
