"""The ``IdempotencyKey`` table.

The columns follow Medusa's IdempotencyKey entity (``id``, ``idempotency_key``, ``created_at``,
``locked_at``, ``request_method``, ``request_params``, ``request_path``, ``response_code``,
``response_body``, ``recovery_point``) plus what scoping, fingerprinting, expiry, fencing and
exact replay need. The mapped class is made on the application's own Flask-SQLAlchemy ``db`` so
that ``flask db migrate`` sees the table like any other model of the app.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column

STARTED = "started"
FINISHED = "finished"

# Locks are compared to the microsecond; MariaDB's DATETIME would keep whole seconds.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class TextAffinityJSON(sqlite.JSON):
    """SQLite's JSON in a column declared TEXT.

    A column declared JSON has NUMERIC affinity in SQLite, which turns a stored document that
    is a single number into an INTEGER or REAL: ``12345678901234567890`` would read back as
    ``1.2345678901234567e+19``. TEXT affinity keeps the document's text as written.
    """

    cache_ok = True


@compiles(TextAffinityJSON, "sqlite")
def _declare_as_text(type_: TextAffinityJSON, compiler: Any, **kw: Any) -> str:
    return "TEXT"


# Stored as the text written, so that every value reads back equal, type included: PostgreSQL's
# JSONB would rewrite numbers (a float 1e+16 comes back as the integer 10000000000000000), and
# SQLite's JSON affinity would convert a document that is one number. MariaDB's JSON is text.
Document = (
    JSON().with_variant(postgresql.JSON(), "postgresql").with_variant(TextAffinityJSON(), "sqlite")
)
# MariaDB's BLOB stops at 64 KiB, too small for a response body.
Bytes = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
# SQLite only autoincrements an INTEGER PRIMARY KEY.
Identifier = BigInteger().with_variant(Integer(), "sqlite")
# Keys and scopes compare byte for byte everywhere. MariaDB's default collations ignore case,
# and its utf8mb4_bin is PAD SPACE ('a' = 'a '); a NO PAD binary collation keeps "Order-A",
# "order-a" and "order-a " three keys, as they are on PostgreSQL and SQLite.
KEY_COLLATION = "utf8mb4_nopad_bin"
KEY_LENGTH = 255
ExactString = String(KEY_LENGTH).with_variant(
    mysql.VARCHAR(KEY_LENGTH, charset="utf8mb4", collation=KEY_COLLATION), "mysql", "mariadb"
)


class IdempotencyKey:
    """The columns of an idempotency key; the mapped class made by ``define_model`` inherits
    them, so ``IdempotencyKey`` serves for type annotations and ``isinstance`` checks.

    Timestamps are naive UTC.
    """

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(ExactString, nullable=False)
    # Whose key it is: keys are unique per scope (see scope.py).
    scope: Mapped[str] = mapped_column(ExactString, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    locked_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    # Changes at every claim, so a holder whose lock was taken over cannot commit (fencing).
    lock_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_method: Mapped[str] = mapped_column(String(16), nullable=False)
    request_params: Mapped[Any] = mapped_column(Document, nullable=False)
    # The host the request was sent to, as the fingerprint compares it (lowercase, without the
    # default port); "" where there is none (a key made by idempotent_function or create()).
    request_host: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The script root of a mounted app followed by the path, percent-encoded.
    request_path: Mapped[str] = mapped_column(Text, nullable=False)
    # SHA-256 of method, path and canonical params: a reused key must match it.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The body as JSON when it is JSON, for people and for work_stage() results.
    response_body: Mapped[Any] = mapped_column(Document, nullable=True)
    # The body exactly as sent, replayed byte for byte.
    response_bytes: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    # [[name, value], ...] of Content-Type and the configured headers.
    response_headers: Mapped[Any] = mapped_column(Document, nullable=True)
    # False when the body was larger than IDEMPOTENCY_MAX_RESPONSE_SIZE: the request finished
    # and its status and headers are stored, but not its body, so a retry cannot replay it.
    # The server default '1' is true on every database (PostgreSQL casts it, MariaDB's BOOL is
    # a TINYINT), so existing rows are kept responses.
    response_kept: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default="1"
    )
    recovery_point: Mapped[str] = mapped_column(String(255), nullable=False, default=STARTED)
    # Names of the stages committed so far, in order; recovery_point is the last of them.
    completed_stages: Mapped[Any] = mapped_column(Document, nullable=False, default=list)

    @property
    def is_finished(self) -> bool:
        return self.response_code is not None

    def __repr__(self) -> str:
        return (
            f"<IdempotencyKey {self.id} scope={self.scope[:8]!r}… "
            f"key={self.idempotency_key[:8]!r}… {self.recovery_point}>"
        )


_models: weakref.WeakKeyDictionary[SQLAlchemy, dict[str, type[IdempotencyKey]]] = (
    weakref.WeakKeyDictionary()
)


def define_model(db: SQLAlchemy, table_name: str) -> type[IdempotencyKey]:
    """The mapped IdempotencyKey class for ``table_name`` on ``db``, made once per pair."""
    models = _models.setdefault(db, {})
    if table_name not in models:
        class_name = "IdempotencyKey" if not models else f"IdempotencyKey_{table_name}"
        namespace = {
            "__tablename__": table_name,
            "__table_args__": (
                # The lookup: one index, scope first, so each client's keys are one range.
                UniqueConstraint("scope", "idempotency_key", name=f"uq_{table_name}_scope_key"),
                # The purge walks expired keys in order.
                Index(f"ix_{table_name}_expires_at", "expires_at"),
            ),
            "__module__": __name__,
        }
        models[table_name] = type(class_name, (IdempotencyKey, db.Model), namespace)
    return models[table_name]
