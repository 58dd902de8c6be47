"""The migrations create exactly the models' schema, and go down and up again, on each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from example_app.extensions import db
from tests.storefront.conftest import build_storefront


@pytest.fixture
def empty_storefront(database_url: str) -> Iterator[Flask]:
    app = build_storefront(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.engine.dispose()


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
