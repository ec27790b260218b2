"""backlog_samples: each account's backlog once a minute, for the dashboard's backlog chart

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written by the running service once a minute (``statushooks.backlog``), read a window at
    # a time by the primary key (account, minute), deleted by age (the index on minute).
    op.create_table(
        "backlog_samples",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("backlog", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "minute", name="pk_backlog_samples"),
    )
    op.create_index("ix_backlog_samples_minute", "backlog_samples", ["minute"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backlog_samples_minute", table_name="backlog_samples")
    op.drop_table("backlog_samples")
