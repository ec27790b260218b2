"""workers: live dispatcher workers, each serving a share of every endpoint's max_in_flight;
endpoints.in_flight and the attempts → deliveries foreign key go

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from statushooks.storage.tables import NAMING, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A shared in-flight counter per endpoint made every worker's claim lock the endpoint rows
    # until it committed, and counted the other workers' finished-but-unwritten attempts as
    # open: two PostgreSQL workers drained no faster than one. Each worker now serves its share
    # of ``max_in_flight`` (storage.queue), counted in its own memory; the table lists who is
    # alive, so the shares add up to the cap.
    op.create_table(
        "workers",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("in_flight")
    # The attempts insert only writes attempts of the leases its own statement found held (a
    # deleted delivery has none): the foreign key's check per row (~12 µs on PostgreSQL, a
    # tenth of the queue's cost per delivery) guarded nothing more.
    with op.batch_alter_table("attempts", naming_convention=NAMING) as batch:
        batch.drop_constraint("fk_attempts_delivery_id_deliveries", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("attempts", naming_convention=NAMING) as batch:
        batch.create_foreign_key(
            "fk_attempts_delivery_id_deliveries", "deliveries", ["delivery_id"], ["id"]
        )
    op.add_column(
        "endpoints",
        sa.Column("in_flight", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "UPDATE endpoints SET in_flight = (SELECT count(*) FROM deliveries"
        " WHERE deliveries.endpoint_id = endpoints.id AND deliveries.state = 'leased')"
    )
    op.drop_table("workers")
