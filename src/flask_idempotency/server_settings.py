"""What the extension needs to know about the database server, asked once, in ``init_app``.

Only MariaDB needs asking. The claim is one ``INSERT ... RETURNING`` statement, which MariaDB
has since 10.5 and MySQL does not have at all. And a stored response travels in one statement,
which MariaDB refuses when it is larger than ``max_allowed_packet``: the request's work would
then roll back and every retry would run it again, so responses that could not fit are not kept
(see ``kept_within`` in stored_response.py). PostgreSQL and SQLite need neither check.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from .config import Settings
from .errors import ConfigurationError

logger = logging.getLogger("flask_idempotency")

SUPPORTED_SERVERS = "MariaDB 10.5 or later, PostgreSQL or SQLite"
MINIMUM_MARIADB = (10, 5)
MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
# The statement that stores a response carries its body twice, as bytes and, for JSON, as a
# document, each escaped as a string literal: a byte may become two, a JSON character up to
# four and a half (1e15 is re-serialised as 1000000000000000.0). An eighth of the packet leaves
# room for both and for the headers.
PACKET_SHARE = 8

# MariaDB's version may carry MySQL's "5.5.5-" replication prefix before its own.
_VERSION = re.compile(r"^(?:5\.5\.5-)?(\d+)\.(\d+)")


def check_server_version(version: str) -> None:
    """Refuse a MySQL-protocol server the claim cannot run on; ``version`` is what
    ``SELECT VERSION()`` answers (MariaDB's contains "MariaDB")."""
    match = _VERSION.match(version)
    if "mariadb" not in version.lower():
        raise ConfigurationError(
            f"flask-idempotency supports {SUPPORTED_SERVERS}; this server is MySQL {version}, "
            "which has no INSERT ... RETURNING, and a key is claimed in one such statement"
        )
    if match is None or (int(match[1]), int(match[2])) < MINIMUM_MARIADB:
        raise ConfigurationError(
            f"flask-idempotency supports {SUPPORTED_SERVERS}; this server is MariaDB {version}, "
            "which has no INSERT ... RETURNING (MariaDB 10.5 added it)"
        )


def max_response_size_for_packet(configured: int, max_allowed_packet: int) -> int:
    """The largest response body kept: the configured size, or less where it could not fit in
    one statement of ``max_allowed_packet`` bytes."""
    return min(configured, max_allowed_packet // PACKET_SHARE)


def fit_to_server(app: Flask, db: SQLAlchemy, settings: Settings) -> Settings:
    """``settings`` as they hold on the app's database server; ``ConfigurationError`` for a
    server the extension cannot work with.

    Only MariaDB (and MySQL, to refuse it) is asked, over one connection that is then closed
    rather than pooled, so that worker processes forked later (``gunicorn --preload``) do not
    share it. A server that cannot be reached is not checked: a warning says so and the
    configured settings hold.
    """
    if app.extensions.get("sqlalchemy") is not db:
        # Flask-SQLAlchemy makes the app's engines in db.init_app(app).
        if _names_mysql(app.config.get("SQLALCHEMY_DATABASE_URI")):
            logger.warning(
                "the database server was not checked: initialise Flask-SQLAlchemy on the app "
                "before flask-idempotency"
            )
        return settings
    with app.app_context():
        engine = db.engine
        if engine.dialect.name not in MYSQL_DIALECTS:
            return settings
        try:
            with engine.connect() as connection:
                version, packet = connection.execute(
                    text("SELECT VERSION(), @@GLOBAL.max_allowed_packet")
                ).one()
                connection.invalidate()
        except SQLAlchemyError as error:
            logger.warning(
                "the database server could not be reached to check its version and "
                "max_allowed_packet; they are not checked: %s",
                getattr(error, "orig", None) or error,
            )
            return settings
    check_server_version(str(version))
    fitted = max_response_size_for_packet(settings.max_response_size, int(packet))
    if fitted < settings.max_response_size:
        logger.warning(
            "IDEMPOTENCY_MAX_RESPONSE_SIZE is %d bytes, but a statement may hold at most %d "
            "(max_allowed_packet): responses over %d bytes are not kept for replay",
            settings.max_response_size,
            packet,
            fitted,
        )
    return dataclasses.replace(settings, max_response_size=fitted)


def _names_mysql(database_uri: object) -> bool:
    if not isinstance(database_uri, str | URL):
        return False
    try:
        return make_url(database_uri).get_backend_name() in MYSQL_DIALECTS
    except ArgumentError:
        return False
