"""endpoints.in_flight: a counter of the endpoint's leased deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each claim used to count every endpoint's leased rows. On PostgreSQL that range of the
    # index collects ~10,000 dead entries per endpoint between two autovacuum runs (every
    # delivery passes through ``leased``), and the count read them all: 10–17 ms a claim at
    # 100,000 queued. The queue now keeps this counter in the transactions that lease and
    # unlease (storage.queue).
    op.add_column(
        "endpoints",
        sa.Column("in_flight", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "UPDATE endpoints SET in_flight = (SELECT count(*) FROM deliveries"
        " WHERE deliveries.endpoint_id = endpoints.id AND deliveries.state = 'leased')"
    )


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("in_flight")
