"""endpoints: the burst suspension's counts and pause

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07 02:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import statushooks.storage.tables

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("failures", "failures_since", "suspensions", "suspended_until")


def upgrade() -> None:
    # statushooks.suspension: failed attempts since the last success or suspension (and when the
    # first was made), suspensions in a row, and until when the claim leaves the endpoint alone.
    # The counts move in the statement that already moves the failure clock (storage.queue).
    when = statushooks.storage.tables.UTCDateTime(timezone=True)
    op.add_column(
        "endpoints",
        sa.Column("failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("endpoints", sa.Column("failures_since", when, nullable=True))
    op.add_column(
        "endpoints",
        sa.Column("suspensions", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("endpoints", sa.Column("suspended_until", when, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
