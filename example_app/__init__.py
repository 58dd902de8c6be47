"""A small storefront speaking Medusa's v1 store API, completing carts in recovery-point
stages with flask-idempotency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

# Bound under other names, so that example_app.admin and example_app.store stay the modules.
from .admin import admin as admin_blueprint
from .extensions import db, idempotency, migrate
from .pages import pages as pages_blueprint
from .problems import register_problem_handlers
from .seed import seed_command
from .store import store as store_blueprint

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
LOCK_TIMEOUT_SECONDS = 2
# Signs the shop pages' session cookie (the shopper's cart). Public, so for the demo only:
# set FLASK_SECRET_KEY anywhere else, or anyone can forge a session and name any cart.
DEMO_SECRET_KEY = "storefront-demo-secret-key-set-FLASK_SECRET_KEY"
UNSTORED_STATUSES = [409, *range(500, 600)]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The storefront. Configuration comes from FLASK_* environment variables (for example
    FLASK_SQLALCHEMY_DATABASE_URI, FLASK_IDEMPOTENCY_LOCK_TIMEOUT, FLASK_STOREFRONT_FAULTS),
    then from ``test_config``; the default database is a SQLite file in the instance folder."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'storefront.sqlite'}",
        STOREFRONT_FAULTS=False,
        SECRET_KEY=DEMO_SECRET_KEY,
        # Shoppers are told apart by their Authorization header (see the README's Scope).
        IDEMPOTENCY_SCOPE="authorization",
        # The stages take milliseconds. A key whose worker was killed is free again after
        # this, well within what Medusa's client waits over its retries: with maxRetries 4,
        # 0.5 s after the lost answer, then the 409 in flight's Retry-After (1 s), which it
        # honours, three times: 3.5 s. So its last retry resumes the work.
        IDEMPOTENCY_LOCK_TIMEOUT=LOCK_TIMEOUT_SECONDS,
        # "Come back later" is not an answer to keep: a 409 because the cart is being
        # completed, and any 5xx, release the key, and the client's retry runs again.
        IDEMPOTENCY_UNSTORED_STATUSES=UNSTORED_STATUSES,
    )
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    engine_options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # A pooled connection the database dropped (a restart, a failover, a killed session) is
    # replaced before use, rather than failing the next request with 503.
    engine_options.setdefault("pool_pre_ping", True)
    # A logged database error shows its statement but not its parameters, which may hold
    # idempotency keys and customers' data.
    engine_options.setdefault("hide_parameters", True)
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() in ("mysql", "mariadb"):
        # READ COMMITTED, PostgreSQL's default: a completion stage reads what another committed
        # while it waited for the cart, and reads take no gap locks that deadlock inserts
        # into the orders and payments of other carts.
        engine_options.setdefault("isolation_level", "READ COMMITTED")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    idempotency.init_app(app)
    register_problem_handlers(app)
    app.register_blueprint(store_blueprint)
    app.register_blueprint(admin_blueprint)
    app.register_blueprint(pages_blueprint)
    app.cli.add_command(seed_command)
    return app
