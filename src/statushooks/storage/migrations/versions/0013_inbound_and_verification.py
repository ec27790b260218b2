"""Inbound SMS and verified endpoints: suppressions, sms_keywords, endpoint verification columns

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from statushooks.storage.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("phone_number", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("keyword", sa.String(32)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_suppressions_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "phone_number", name="pk_suppressions"),
    )
    op.create_table(
        "sms_keywords",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("opt_out", sa.JSON(), nullable=False),
        sa.Column("opt_in", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_sms_keywords_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_sms_keywords"),
    )
    # Plain ADD COLUMNs: nullable or with a server default, so SQLite needs no table copy.
    op.add_column(
        "endpoints",
        sa.Column("verification", sa.String(16), nullable=False, server_default="none"),
    )
    op.add_column("endpoints", sa.Column("verified_at", UTCDateTime()))
    op.add_column("endpoints", sa.Column("verification_error", sa.Text()))
    op.add_column("endpoints", sa.Column("verified_origin", sa.String(255)))


def downgrade() -> None:
    # In place (SQLite's ALTER TABLE … DROP COLUMN): copying a table other tables refer to
    # breaks their foreign keys.
    for name in ("verified_origin", "verification_error", "verified_at", "verification"):
        op.drop_column("endpoints", name)
    op.drop_table("sms_keywords")
    op.drop_table("suppressions")
