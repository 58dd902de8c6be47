"""Sending a claim as one statement that commits itself.

A claim, and a replay's read, is one statement that must be committed before the view runs (a
duplicate in flight sees the key locked only once the claim is committed). In a transaction it
costs three round trips: BEGIN, the statement, COMMIT. In autocommit mode it costs one. With
psycopg 3 switching a connection to autocommit and back is a flag on the client, so it is done
around the claim when the session's connection has no transaction open; the session's own
commit after it would have nothing to send, and is skipped. Other drivers (PyMySQL sends
``SET autocommit`` to the server) and a connection already in a transaction (a
``before_request`` wrote something, which the claim's commit commits as before) run the
statement in the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

_PSYCOPG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


@contextmanager
def autocommitted(session: Session) -> Iterator[bool]:
    """Runs the block's statements in autocommit mode where that is free; yields whether it
    does. If it does, there is nothing left to commit, and the session's transaction goes on
    on the same connection: the view's first statement begins the database's transaction."""
    connection = session.connection()
    if connection.dialect.driver != "psycopg":
        yield False
        return
    driver_connection = connection.connection.driver_connection
    if (
        driver_connection is None
        or driver_connection.autocommit
        or driver_connection.info.transaction_status != _PSYCOPG_IDLE
    ):
        yield False
        return
    driver_connection.autocommit = True
    try:
        yield True
    finally:
        if not driver_connection.closed:
            driver_connection.autocommit = False
