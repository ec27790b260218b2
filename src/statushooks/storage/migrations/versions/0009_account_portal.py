"""accounts: the customer portal's settings (brand, accent colour, origins that may frame it)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the defaults (``accounts.PortalSettings()``); no row is rewritten.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("portal", sa.JSON(), nullable=True))


def downgrade() -> None:
    # In place (SQLite's ALTER TABLE … DROP COLUMN): copying a table other tables refer to
    # breaks their foreign keys.
    op.drop_column("accounts", "portal")
