"""Schema migrations that move data: a database of an earlier revision, upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from statushooks import config, service, sms
from statushooks.deliveries import Delivery, DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.events import interact
from statushooks.storage import migrate
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

LEASED_ROW = sa.text(
    "UPDATE deliveries SET state = 'leased', lease_owner = 'old-worker', lease_id = 'lse_1',"
    " lease_expires_at = :expires WHERE id = :id"
)


def downgrade_sqlite(
    path: Path, revision: str, *statements: tuple[sa.TextClause, dict[str, Any]]
) -> None:
    """Take the SQLite file at ``path`` down to ``revision``, then run ``statements`` there."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
            for statement, params in statements:
                connection.execute(statement, params)
    finally:
        engine.dispose()


async def test_rows_leased_before_0007_stay_leased_but_are_stored_pending(tmp_path: Path) -> None:
    """0007 makes leases heap-only: a row an earlier worker stored as ``leased`` is stored
    ``pending`` with its lease kept, so it still shows ``leased`` until the lease expires and
    its worker's result is still accepted. (The rows are made at the head revision, then the
    database is taken down to 0006, where the row is leased as a worker of then did.)"""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:
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
    finally:
        await store.close()
    expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(" ")
    downgrade_sqlite(path, "0006", (LEASED_ROW, {"expires": expires, "id": delivery.id}))
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:

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
