"""deliveries: per-endpoint due index for the dispatcher's claim

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (endpoint_id, state, next_attempt_at) serves every query (endpoint_id, state) did, and
    # lets a claim read one endpoint's due rows in order and stop after its share.
    op.create_index(
        "ix_deliveries_endpoint_due",
        "deliveries",
        ["endpoint_id", "state", "next_attempt_at"],
        unique=False,
    )
    op.drop_index("ix_deliveries_endpoint_state", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_endpoint_state", "deliveries", ["endpoint_id", "state"], unique=False
    )
    op.drop_index("ix_deliveries_endpoint_due", table_name="deliveries")
