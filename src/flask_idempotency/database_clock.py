"""The database's clock, as SQL.

Lock ages and expiry are judged by the database server's clock, written into the statements
themselves, never by the application servers' clocks: two app servers whose clocks disagree
must not see one live request's lock as old. Timestamps are naive UTC, as the columns hold them.

Statements are built once and run many times, so an offset (a lock timeout, a key's time to
live) is a bound parameter: ``DatabaseClock.later(name)`` is "now plus the offset bound as
``name``", and ``DatabaseClock.offset(seconds)`` is the value to bind for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ColumnElement, DateTime, Interval, String, bindparam, func, text
from sqlalchemy.sql.functions import Function

# SQLite's strftime gives milliseconds; the column's own format compares correctly with it.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


@dataclass(frozen=True)
class DatabaseClock:
    dialect_name: str

    def now(self) -> ColumnElement[datetime]:
        """The database's current UTC time for the statement being run: the statement's time,
        not the transaction's, since a stage's transaction may have begun long before."""
        if self.dialect_name == "postgresql":
            return func.timezone("UTC", func.statement_timestamp(), type_=DateTime())
        if self.dialect_name in ("mysql", "mariadb"):
            return func.utc_timestamp(6, type_=DateTime())
        if self.dialect_name == "sqlite":
            return func.strftime(_SQLITE_FORMAT, "now", type_=DateTime())
        raise NotImplementedError(
            f"flask-idempotency does not support the {self.dialect_name} dialect"
        )

    def later(self, name: str) -> ColumnElement[datetime]:
        """Now plus the offset bound as ``name`` (see ``offset``); negative is earlier."""
        return self._later(name, None)

    def later_by(self, seconds: float) -> ColumnElement[datetime]:
        """Now plus ``seconds``, bound already: for statements made for one call."""
        return self._later("offset", self.offset(seconds))

    def _later(self, name: str, value: object) -> ColumnElement[datetime]:
        unique = value is not None
        if self.dialect_name == "postgresql":
            return self.now() + bindparam(name, value, type_=Interval(), unique=unique)
        if self.dialect_name in ("mysql", "mariadb"):
            microseconds = bindparam(name, value, type_=BigInteger(), unique=unique)
            return Function(
                "timestampadd", text("MICROSECOND"), microseconds, self.now(), type_=DateTime()
            )
        if self.dialect_name == "sqlite":
            modifier = bindparam(name, value, type_=String(), unique=unique)
            return func.strftime(_SQLITE_FORMAT, "now", modifier, type_=DateTime())
        raise NotImplementedError(
            f"flask-idempotency does not support the {self.dialect_name} dialect"
        )

    def offset(self, seconds: float) -> object:
        """The value to bind for an offset of ``seconds`` in ``later``."""
        if self.dialect_name == "postgresql":
            return timedelta(seconds=seconds)
        if self.dialect_name in ("mysql", "mariadb"):
            return round(seconds * 1_000_000)
        return f"{seconds:+.6f} seconds"
