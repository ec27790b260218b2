"""idempotency_keys: an index on created_at, for retention's batches of expired keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Retention (``statushooks.retention``) deletes the keys past their lifetime oldest first,
    # a small batch per transaction: without this index each batch would read the whole table.
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
