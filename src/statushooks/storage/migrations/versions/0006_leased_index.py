"""deliveries: a partial index of leased rows replaces ix_deliveries_due

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LEASED = sa.text("state = 'leased'")


def upgrade() -> None:
    # The reclaim of expired leases was ix_deliveries_due's last user of its own. This index
    # holds leased rows only: a completion no longer adds an entry to it, and the claim's pick
    # has one index to read a due endpoint's rows in order (ix_deliveries_endpoint_due), not
    # two for a plan kept across runs to choose between.
    op.create_index(
        "ix_deliveries_leased",
        "deliveries",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=LEASED,
        sqlite_where=LEASED,
    )
    op.drop_index("ix_deliveries_due", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.drop_index("ix_deliveries_leased", table_name="deliveries")
