"""The database's clock, as SQL.

Lock ages and expiry are judged by the database server's clock, written into the statements
themselves, never by the application servers' clocks: two app servers whose clocks disagree
must not see one live request's lock as old. Timestamps are naive UTC, as the columns hold them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, DateTime, Interval, func, literal, text
from sqlalchemy.sql.functions import Function

# SQLite's strftime gives milliseconds; the column's own format compares correctly with it.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def database_now(dialect_name: str, offset: timedelta = timedelta(0)) -> ColumnElement[datetime]:
    """The database's current UTC time, plus ``offset``, for the statement being run.

    It is the time of the statement, not of the transaction: a stage's transaction may have
    begun long before the statement that records it.
    """
    if dialect_name == "postgresql":
        now: ColumnElement[datetime] = func.timezone(
            "UTC", func.statement_timestamp(), type_=DateTime()
        )
        if offset:
            now = now + literal(offset, Interval())
        return now
    if dialect_name in ("mysql", "mariadb"):
        now = func.utc_timestamp(6, type_=DateTime())
        if offset:
            microseconds = round(offset.total_seconds() * 1_000_000)
            now = Function("timestampadd", text("MICROSECOND"), microseconds, now, type_=DateTime())
        return now
    if dialect_name == "sqlite":
        modifier = f"{offset.total_seconds():+.6f} seconds"
        return func.strftime(_SQLITE_FORMAT, "now", modifier, type_=DateTime())
    raise NotImplementedError(f"flask-idempotency does not support the {dialect_name} dialect")
