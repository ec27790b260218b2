"""Schema migrations that move data: a database of an earlier revision, upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from statushooks import config, service, sms
from statushooks.deliveries import DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.events import interact
from statushooks.storage import engine as engines
from statushooks.storage import migrate
from statushooks.storage.sql import Store

LEASED_ROW = sa.text(
    "UPDATE deliveries SET state = 'leased', lease_owner = 'old-worker', lease_id = 'lse_1',"
    " lease_expires_at = :expires WHERE id = :id"
)


async def test_rows_leased_before_0007_stay_leased_but_are_stored_pending(tmp_path: Path) -> None:
    """0007 makes leases heap-only: a row an earlier worker stored as ``leased`` is stored
    ``pending`` with its lease kept, so it still shows ``leased`` until the lease expires and
    its worker's result is still accepted."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = engines.create_engine(url)
    await migrate.upgrade(engine, "0006")
    await engine.dispose()
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
        async with store.read() as tx:
            [delivery] = (await tx.list_deliveries(account)).data
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(" ")
        async with store.write() as tx:
            await tx.conn.execute(LEASED_ROW, {"expires": expires, "id": delivery.id})
        await migrate.upgrade(store.engine)
        async with store.read() as tx:
            stored = await tx.conn.execute(
                sa.text("SELECT state, lease_id FROM deliveries WHERE id = :id"),
                {"id": delivery.id},
            )
            assert tuple(stored.one()) == ("pending", "lse_1")
            shown = await tx.get_delivery(account, delivery.id)
            assert shown.state is DeliveryState.LEASED
            indexes = await tx.conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")
            )
            assert "ix_deliveries_leased" not in set(indexes.scalars())
    finally:
        await store.close()
