"""connectors: providers' callbacks in; messages carry the provider's id; unmatched receipts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from statushooks.storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HAS_PROVIDER_ID = sa.text("provider_message_id IS NOT NULL")
ID = sa.String(40)


def upgrade() -> None:
    # Nullable columns without a default: SQLite and PostgreSQL add them without rewriting.
    op.add_column("messages", sa.Column("provider", sa.String(40), nullable=True))
    op.add_column("messages", sa.Column("provider_message_id", sa.String(200), nullable=True))
    op.create_index(
        "ix_messages_provider_ref",
        "messages",
        ["account_id", "provider", "provider_message_id"],
        unique=False,
        postgresql_where=HAS_PROVIDER_ID,
        sqlite_where=HAS_PROVIDER_ID,
    )
    op.create_table(
        "connectors",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_connectors_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_connectors"),
    )
    op.create_index("ix_connectors_account_id", "connectors", ["account_id"], unique=False)
    op.create_table(
        "unmatched_receipts",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("connector_id", ID, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raw_status", sa.String(100), nullable=False),
        sa.Column("error_code", sa.String(200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_unmatched_receipts_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_unmatched_receipts"),
        sa.UniqueConstraint("account_id", "fingerprint", name="uq_unmatched_receipts_fingerprint"),
    )
    op.create_index(
        "ix_unmatched_receipts_ref",
        "unmatched_receipts",
        ["account_id", "provider", "provider_message_id"],
        unique=False,
    )
    op.create_index(
        "ix_unmatched_receipts_account_id_id",
        "unmatched_receipts",
        ["account_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("unmatched_receipts")
    op.drop_table("connectors")
    op.drop_index("ix_messages_provider_ref", table_name="messages")
    # In place (SQLite's ALTER TABLE … DROP COLUMN): copying a table other tables refer to
    # breaks their foreign keys.
    op.drop_column("messages", "provider_message_id")
    op.drop_column("messages", "provider")
