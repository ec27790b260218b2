"""Schema migrations that move data: a database of an earlier revision, upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from statushooks import config, service, sms
from statushooks.deliveries import Delivery, DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.events import interact
from statushooks.storage import migrate
from statushooks.storage import tables as t
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction


def add_todays_schema(tx: Transaction) -> list[str]:
    """Add what today's code writes and an earlier revision lacks (tables, nullable columns),
    so that today's service can record rows in a database of that revision; the statements
    that take it away again (``drop``), newest first."""
    conn = tx.conn
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    undo: list[str] = []
    for table in t.metadata.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            undo.append(f"DROP TABLE {table.name}")
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                undo.append(f"ALTER TABLE {table.name} DROP COLUMN {column.name}")
    return undo[::-1]


def drop(tx: Transaction, undo: list[str]) -> None:
    for statement in undo:
        tx.conn.exec_driver_sql(statement)


LEASED_ROW = sa.text(
    "UPDATE deliveries SET state = 'leased', lease_owner = 'old-worker', lease_id = 'lse_1',"
    " lease_expires_at = :expires WHERE id = :id"
)


async def test_rows_leased_before_0007_stay_leased_but_are_stored_pending(tmp_path: Path) -> None:
    """0007 makes leases heap-only: a row an earlier worker stored as ``leased`` is stored
    ``pending`` with its lease kept, so it still shows ``leased`` until the lease expires and
    its worker's result is still accepted."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade_url(url, "0006")
    store = await Store.open(url, upgrade=False)
    try:
        # Today's code records the rows: what later revisions add is there while it does, and
        # gone again before the upgrade from 0006.
        undo = await store.write(add_todays_schema)
        settings = config.load_settings(database_url=url, allow_private_urls=True)
        svc = service.Service(store=store, settings=settings, pricing=sms.PricingTable.load())
        account = (await svc.create_account("acme")).account.id
        await svc.create_endpoint(
            account,
            service.EndpointSpec(
                url="http://127.0.0.1:9/hook",
                enabled_events=(interact.NAME,),
                state=EndpointState.ACTIVE,
            ),
        )
        await svc.submit_sms(account, to="+14155552671", sender="Acme", text="hi")
        [delivery] = (await store.read(lambda tx: tx.list_deliveries(account))).data
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(" ")
        await store.write(
            lambda tx: tx.conn.execute(LEASED_ROW, {"expires": expires, "id": delivery.id})
        )
        await store.write(lambda tx: drop(tx, undo))
        await migrate.upgrade_url(url)

        def after_upgrade(tx: Transaction) -> tuple[tuple[Any, ...], Delivery, set[str]]:
            stored = tx.conn.execute(
                sa.text("SELECT state, lease_id FROM deliveries WHERE id = :id"),
                {"id": delivery.id},
            )
            indexes = tx.conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")
            )
            return (
                tuple(stored.one()),
                tx.get_delivery(account, delivery.id),
                set(indexes.scalars()),
            )

        stored, shown, indexes = await store.read(after_upgrade)
        assert stored == ("pending", "lse_1")
        assert shown.state is DeliveryState.LEASED
        assert "ix_deliveries_leased" not in indexes
    finally:
        await store.close()
