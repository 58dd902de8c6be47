"""the host a key's request was sent to, and JSON that reads back exactly

``request_host`` records the host the request was sent to, which the fingerprint now covers (an
app serving several shops from subdomains must not replay one shop's answer on another).
Existing keys get "" there; their fingerprints were made without a host, so a retry of a key
made before the upgrade answers 422 until the key expires.

The JSON columns keep the text they were written with, so that every value reads back equal,
type included: on PostgreSQL they become ``json`` (``jsonb`` rewrites numbers, a float 1e+16
coming back as an integer), on SQLite ``TEXT`` (a column declared JSON has NUMERIC affinity and
converts a document that is a single number). MariaDB's JSON is text already.

Revision ID: c4e7a91d2b60
Revises: 623a5872fc68
Create Date: 2026-12-02 07:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "c4e7a91d2b60"
down_revision = "623a5872fc68"
branch_labels = None
depends_on = None

DOCUMENT_COLUMNS = ("request_params", "response_body", "response_headers", "completed_stages")
NULLABLE = {"response_body", "response_headers"}


def upgrade():
    # Existing keys get "" through a default that goes once they have it: the extension
    # always writes the column itself.
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_host", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.alter_column("request_host", server_default=None, existing_type=sa.Text())
    _retype_documents(postgresql_type=postgresql.JSON(), sqlite_type=sa.Text())


def downgrade():
    _retype_documents(postgresql_type=postgresql.JSONB(), sqlite_type=sa.JSON())
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_column("request_host")


def _retype_documents(*, postgresql_type, sqlite_type):
    dialect = op.get_context().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return
    new_type = postgresql_type if dialect == "postgresql" else sqlite_type
    cast = (
        "json"
        if isinstance(new_type, postgresql.JSON) and not isinstance(new_type, postgresql.JSONB)
        else "jsonb"
    )
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        for column in DOCUMENT_COLUMNS:
            options = {"postgresql_using": f"{column}::{cast}"} if dialect == "postgresql" else {}
            batch_op.alter_column(
                column, type_=new_type, existing_nullable=column in NULLABLE, **options
            )
