"""deliveries.traceparent and endpoints.send_traceparent: traces from the API request to the attempt

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL unless tracing is on (``statushooks.tracing``): no index, nothing to backfill.
    op.add_column("deliveries", sa.Column("traceparent", sa.String(55), nullable=True))
    op.add_column(
        "endpoints",
        sa.Column("send_traceparent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # In place (SQLite's ALTER TABLE … DROP COLUMN): copying a table other tables refer to
    # breaks their foreign keys.
    op.drop_column("endpoints", "send_traceparent")
    op.drop_column("deliveries", "traceparent")
