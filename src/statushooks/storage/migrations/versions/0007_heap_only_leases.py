"""deliveries: leases are heap-only (a leased delivery stays pending; no index of leases)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEASED = sa.text("state = 'leased'")


def upgrade() -> None:
    # A lease now writes only the lease columns, which no index holds: ``leased`` is derived
    # from a live lease, and an expired lease needs no reclaim (``storage.queue``). Rows leased
    # by a worker of an earlier version keep their lease.
    op.execute("UPDATE deliveries SET state = 'pending' WHERE state = 'leased'")
    op.drop_index("ix_deliveries_leased", table_name="deliveries")
    if op.get_bind().dialect.name == "postgresql":
        # Room on each page for the leased version of a row: new pages only (a rewrite of a
        # large table is left to the operator: VACUUM FULL deliveries).
        op.execute("ALTER TABLE deliveries SET (fillfactor = 40)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
    op.create_index(
        "ix_deliveries_leased",
        "deliveries",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=LEASED,
        sqlite_where=LEASED,
    )
    op.execute(
        "UPDATE deliveries SET state = 'leased' WHERE state = 'pending' AND lease_id IS NOT NULL"
    )
