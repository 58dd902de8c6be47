"""exact keys on MariaDB, and responses not kept

Keys and scopes compare byte for byte on MariaDB, as they do on PostgreSQL and SQLite:
``Order-A``, ``order-a`` and ``order-a `` are three keys. The default collations ignore case,
and ``utf8mb4_bin`` ignores trailing spaces (PAD SPACE), so the columns take the NO PAD binary
collation ``utf8mb4_nopad_bin``. Autogenerate does not see collations, so this is written out.
Existing keys stay unique: a binary collation only tells more keys apart.

``response_kept`` is false for a key whose response was too large to keep for replay.

Going down restores the table's default collation; that fails if keys now differ only in case
or trailing spaces, since they would collide again.

Revision ID: ab8ad6520b5d
Revises: 5ede50271e62
Create Date: 2026-12-02 03:29:09

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "ab8ad6520b5d"
down_revision = "5ede50271e62"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("response_kept", sa.Boolean(), server_default="1", nullable=False)
        )
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        op.execute(
            "ALTER TABLE idempotency_key"
            " MODIFY idempotency_key VARCHAR(255)"
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,"
            " MODIFY scope VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL"
        )


def downgrade():
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        # Without a character set, a column takes the table's default and its collation.
        op.execute(
            "ALTER TABLE idempotency_key"
            " MODIFY idempotency_key VARCHAR(255) NOT NULL,"
            " MODIFY scope VARCHAR(255) NOT NULL"
        )
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_column("response_kept")
