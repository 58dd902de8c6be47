"""The migrations create exactly the models' schema, and go down and up again, on each database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from example_app.extensions import db, idempotency
from flask_idempotency.fingerprint import digest_of
from flask_idempotency.stored_response import replay
from tests.storefront.conftest import build_storefront

FIRST_REVISION = "5ede50271e62"
# The last revision with the storefront's first tables, before Medusa's store API.
BEFORE_STORE_API = "ab8ad6520b5d"


@pytest.fixture
def empty_storefront(database_url: str) -> Iterator[Flask]:
    app = build_storefront(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        # Whatever revision the test left: the tables as the database has them.
        existing = sa.MetaData()
        existing.reflect(db.engine)
        existing.drop_all(db.engine)
        db.engine.dispose()


def insert_finished_key(key: str, path: str, body: bytes, fingerprint: str) -> None:
    """A finished key in the columns every revision has, as an earlier version stored it."""
    now = datetime(2030, 1, 1)
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO idempotency_key (idempotency_key, scope, created_at, expires_at,"
                " request_method, request_params, request_path, fingerprint, response_code,"
                " response_bytes, recovery_point, completed_stages) VALUES (:key, '',"
                " :now, :later, 'POST', '{}', :path, :fingerprint, 201, :body,"
                " 'finished', '[]')"
            ),
            {
                "key": key,
                "now": now,
                "later": now + timedelta(days=3650),
                "path": path,
                "fingerprint": fingerprint,
                "body": body,
            },
        )


def pending_differences(app: Flask) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, db.metadata))


def test_migrations_match_the_models_and_go_down_and_up(empty_storefront: Flask) -> None:
    with empty_storefront.app_context():
        upgrade()
        assert pending_differences(empty_storefront) == []

        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()

        upgrade()
        assert pending_differences(empty_storefront) == []
        columns = {
            column["name"]: column["type"]
            for column in sa.inspect(db.engine).get_columns("idempotency_key")
        }
        if db.engine.dialect.name in ("mysql", "mariadb"):
            # Lock times are compared to the microsecond.
            assert getattr(columns["locked_at"], "fsp", None) == 6


def test_upgrading_existing_keys_makes_them_byte_exact_and_kept(empty_storefront: Flask) -> None:
    with empty_storefront.app_context():
        upgrade(revision=FIRST_REVISION)
        insert_finished_key(
            "order-a", "/charges", b"kept before the upgrade", digest_of("POST", "/charges", {})
        )

        upgrade()
        service = idempotency.service
        existing = service.initialize_request("order-a", "POST", {}, "/charges")
        assert (existing.is_finished, existing.response_kept) == (True, True)
        assert replay(existing).data == b"kept before the upgrade"
        for new_key in ("Order-A", "order-a "):
            claimed = service.initialize_request(new_key, "POST", {}, "/charges")
            assert claimed.lock_token is not None, f"{new_key!r} was taken for 'order-a'"
            service.release(claimed)
        table = idempotency.model.__table__  # type: ignore[attr-defined]
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(
                sa.insert(table).from_select(
                    [column.name for column in table.c if column.name != "id"],
                    sa.select(*(column for column in table.c if column.name != "id")).where(
                        table.c.idempotency_key == "order-a"
                    ),
                )
            )
        db.session.remove()

        # Down again, once the keys that would collide under the old collation are gone.
        with db.engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.idempotency_key != "order-a"))
        downgrade(revision=FIRST_REVISION)
        columns = {
            column["name"] for column in sa.inspect(db.engine).get_columns("idempotency_key")
        }
        assert "response_kept" not in columns


def test_the_store_api_revision_keeps_the_keys_and_remakes_the_storefront(
    empty_storefront: Flask,
) -> None:
    with empty_storefront.app_context():
        upgrade(revision=BEFORE_STORE_API)
        # Written as that revision's schema holds it: today's model has columns added since.
        insert_finished_key(
            "kept", "/store/carts", b'{"cart": {}}', digest_of("POST", "/store/carts", {})
        )
        assert "product_id" in column_names("line_item")

        upgrade()
        service = idempotency.service
        kept = service.initialize_request("kept", "POST", {}, "/store/carts")
        assert kept.is_finished and replay(kept).data == b'{"cart": {}}'
        assert "variant_id" in column_names("line_item")
        assert {"region", "product_variant", "shipping_method", "payment"} <= set(
            sa.inspect(db.engine).get_table_names()
        )

        downgrade(revision=BEFORE_STORE_API)
        assert "product_id" in column_names("line_item")
        assert "region" not in sa.inspect(db.engine).get_table_names()
        db.session.remove()


def column_names(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns(table)}
