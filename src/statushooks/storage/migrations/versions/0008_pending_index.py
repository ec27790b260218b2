"""deliveries: a partial index of pending rows, the claim's ring of endpoints with open work

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # The claim walks the endpoints with pending deliveries in id order, a bounded window per
    # claim from where the last one stopped (``storage.queue``): one probe of this index per
    # endpoint with open work, none for endpoints without (their delivered rows are not in it).
    # A lease writes no column of it (``state`` stays ``pending``): leases stay heap-only.
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["endpoint_id", "next_attempt_at"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
