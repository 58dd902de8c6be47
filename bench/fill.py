"""Filling the key table fast with keys as a day of traffic leaves them.

Each row is a finished key as the extension stores it: a uuid-shaped key, one of 5000 users'
scopes, a small JSON request and response, created 25 to 26 hours ago and so expired an hour
or two ago, as a table looks before its purge. The rows are generated inside the database
(generate_series on PostgreSQL, the Sequence engine's seq_1_to_n on MariaDB, a recursive CTE on
SQLite), a batch per statement.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

BATCH = 100_000
USERS = 5000
COLUMNS = (
    "idempotency_key, scope, created_at, expires_at, request_method, request_params, "
    "request_host, request_path, fingerprint, response_code, response_body, response_bytes, "
    "response_headers, response_kept, recovery_point, completed_stages"
)

_POSTGRESQL = """
INSERT INTO {table} ({columns})
SELECT md5(:salt || i)::uuid::text,
       'basic:user-' || mod(i, {users}),
       t.created, t.created + interval '24 hours',
       'POST',
       json_build_object('query', '{{}}'::json, 'json',
                          json_build_object('amount', mod(i, 10000), 'currency', 'eur')),
       'localhost',
       CASE mod(i, 3) WHEN 0 THEN '/charges' WHEN 1 THEN '/store/carts'
            ELSE '/store/carts/cart_' || left(md5(:salt || 'c' || i), 26) || '/complete' END,
       md5(:salt || 'f' || i) || md5(:salt || 'g' || i),
       201,
       json_build_object('amount', mod(i, 10000), 'id', i),
       convert_to('{{"amount":' || mod(i, 10000) || ',"id":' || i || '}}' || chr(10), 'UTF8'),
       '[["Content-Type", "application/json"]]'::json,
       true, 'finished', '[]'::json
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint) - 1) AS i,
     LATERAL (SELECT timezone('UTC', now()) - interval '25 hours'
                     - mod(i, 3600) * interval '1 second' AS created) AS t
"""

_MARIADB = """
INSERT INTO {table} ({columns})
SELECT CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4), SUBSTR(h, 13, 4), SUBSTR(h, 17, 4),
                 SUBSTR(h, 21, 12)),
       CONCAT('basic:user-', MOD(i, {users})),
       created, created + INTERVAL 24 HOUR,
       'POST',
       JSON_OBJECT('query', JSON_OBJECT(), 'json',
                   JSON_OBJECT('amount', MOD(i, 10000), 'currency', 'eur')),
       'localhost',
       CASE MOD(i, 3) WHEN 0 THEN '/charges' WHEN 1 THEN '/store/carts'
            ELSE CONCAT('/store/carts/cart_', LEFT(MD5(CONCAT(:salt, 'c', i)), 26), '/complete')
       END,
       SHA2(CONCAT(:salt, 'f', i), 256),
       201,
       JSON_OBJECT('amount', MOD(i, 10000), 'id', i),
       CONCAT('{{"amount":', MOD(i, 10000), ',"id":', i, '}}', CHAR(10)),
       '[["Content-Type", "application/json"]]',
       1, 'finished', '[]'
FROM (SELECT seq AS i, MD5(CONCAT(:salt, seq)) AS h,
             UTC_TIMESTAMP(6) - INTERVAL 25 HOUR - INTERVAL MOD(seq, 3600) SECOND AS created
      FROM seq_{start}_to_{last}) AS s
"""

_SQLITE = """
WITH RECURSIVE seq(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM seq WHERE i < :stop - 1)
INSERT INTO {table} ({columns})
SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-'
           || substr(h, 17, 4) || '-' || substr(h, 21, 12),
       'basic:user-' || (i % {users}),
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-25 hours', '-' || (i % 3600) || ' seconds'),
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 hours', '-' || (i % 3600) || ' seconds'),
       'POST',
       json_object('query', json_object(), 'json',
                   json_object('amount', i % 10000, 'currency', 'eur')),
       'localhost',
       CASE i % 3 WHEN 0 THEN '/charges' WHEN 1 THEN '/store/carts'
            ELSE '/store/carts/cart_' || substr(h, 7, 26) || '/complete' END,
       lower(hex(randomblob(32))),
       201,
       json_object('amount', i % 10000, 'id', i),
       CAST('{{"amount":' || (i % 10000) || ',"id":' || i || '}}' || char(10) AS BLOB),
       '[["Content-Type", "application/json"]]',
       1, 'finished', '[]'
FROM (SELECT i, lower(hex(randomblob(16))) AS h FROM seq)
"""


def count_keys(engine: sa.Engine, table: str = "idempotency_key") -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def add_keys(engine: sa.Engine, how_many: int, table: str = "idempotency_key") -> None:
    """Insert ``how_many`` expired, finished keys into ``table``."""
    salt = uuid.uuid4().hex[:8]
    dialect = engine.dialect.name
    names = {"table": table, "columns": COLUMNS, "users": USERS}
    for start in range(1, how_many + 1, BATCH):
        stop = min(start + BATCH, how_many + 1)
        if dialect == "postgresql":
            statement = sa.text(_POSTGRESQL.format(**names))
        elif dialect == "sqlite":
            statement = sa.text(_SQLITE.format(**names))
        else:
            # The Sequence engine names its tables by their bounds.
            statement = sa.text(_MARIADB.format(**names, start=start, last=stop - 1))
        with engine.begin() as connection:
            connection.execute(statement, {"salt": salt, "start": start, "stop": stop})
    analyze(engine, table)


def analyze(engine: sa.Engine, table: str = "idempotency_key") -> None:
    """Bring the planner's statistics up to date, as autovacuum would after a day's inserts."""
    dialect = engine.dialect.name
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if dialect == "postgresql":
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        elif dialect == "sqlite":
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql(f"ANALYZE TABLE {table}").all()


def table_bytes(engine: sa.Engine, table: str) -> int | None:
    """The table's size on disk with its indexes, where the database says (not SQLite)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return int(
                connection.exec_driver_sql(f"SELECT pg_total_relation_size('{table}')").scalar_one()
            )
        if engine.dialect.name in ("mysql", "mariadb"):
            return int(
                connection.exec_driver_sql(
                    "SELECT data_length + index_length FROM information_schema.tables "
                    f"WHERE table_schema = DATABASE() AND table_name = '{table}'"
                ).scalar_one()
            )
    return None
