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


async def test_0010_adds_provider_columns_to_existing_messages_and_downgrades(
    tmp_path: Path,
) -> None:
    """Messages recorded before 0010 read back without a provider; 0010 downgrades cleanly
    (SQLite drops the columns by copying the table) and upgrades again."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade_url(url, "0008")
    now = "2026-12-07 00:00:00.000000"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO accounts VALUES ('acc_1', 'acme', '{now}')"))
        conn.execute(
            sa.text(
                'INSERT INTO messages (id, account_id, channel, status, "to", transaction_id,'
                " segments, last_sequence, created_at, updated_at) VALUES ('msg_1', 'acc_1',"
                f" 'sms', 'submitted', '+447810000001', 'tid_1', 1, 0, '{now}', '{now}')"
            )
        )
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:
        message = await store.read(lambda tx: tx.get_message("acc_1", "msg_1"))
        assert (message.provider, message.provider_message_id) == (None, None)
    finally:
        await store.close()
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("messages")}
        assert "provider" not in columns
        assert not sa.inspect(conn).has_table("connectors")
    engine.dispose()
    await migrate.upgrade_url(url)


async def test_endpoints_before_0013_are_unverified_and_keep_their_state(tmp_path: Path) -> None:
    """0013 adds the suppression list, the keywords and the verification columns: an endpoint
    made before it has no verification and keeps its state; downgrading drops them again."""
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade_url(url, "0008")
    store = await Store.open(url, upgrade=False)
    try:
        await store.write(
            lambda tx: tx.conn.execute(
                sa.text(
                    "INSERT INTO accounts (id, name, created_at) VALUES ('acc_1', 'acme', "
                    "'2026-12-01 00:00:00.000000');"
                )
            )
        )
        await store.write(
            lambda tx: tx.conn.execute(
                sa.text(
                    "INSERT INTO endpoints (id, account_id, url, description, enabled_events,"
                    " statuses, state, secrets, max_in_flight, ordered, metadata, created_at,"
                    " updated_at) VALUES ('ep_1', 'acc_1', 'http://127.0.0.1:9/hook', '', '[]',"
                    " '[]', 'paused', '[{\"value\": \"whsec_x\", \"expires_at\": null}]', 10,"
                    " 1, '{}', '2026-12-01 00:00:00.000000', '2026-12-01 00:00:00.000000')"
                )
            )
        )
    finally:
        await store.close()
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:
        endpoint = await store.read(lambda tx: tx.get_endpoint("acc_1", "ep_1"))
        assert endpoint.state is EndpointState.PAUSED
        assert endpoint.verification.value == "none" and endpoint.verified_at is None
        assert (await store.read(lambda tx: tx.list_suppressions("acc_1"))).data == []

        def downgrade(tx: Transaction) -> set[str]:
            config = migrate.alembic_config()
            config.attributes["connection"] = tx.conn
            command.downgrade(config, "0008")
            columns = tx.conn.execute(sa.text("SELECT name FROM pragma_table_info('endpoints')"))
            tables = tx.conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='table'"))
            return set(columns.scalars()) | set(tables.scalars())

        names = await store.write(downgrade)
        assert not {"verification", "verified_at", "suppressions", "sms_keywords"} & names
        assert {"state", "endpoints"} <= names
    finally:
        await store.close()


async def test_0015_adds_the_backlog_samples_and_downgrades(tmp_path: Path) -> None:
    """0015 adds the backlog samples (empty: the chart starts with the service's first
    round after the upgrade); downgrading to 0014 drops the table and its index."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade_url(url, "0014")
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:
        minute = 29_943_600  # 2026-12-07 04:00 UTC
        assert await store.write(lambda tx: tx.record_backlog(minute, {})) is True
        assert await store.read(lambda tx: tx.backlog_peaks(None, first=minute, width=1)) == {0: 0}

        def downgrade(tx: Transaction) -> set[str]:
            config = migrate.alembic_config()
            config.attributes["connection"] = tx.conn
            command.downgrade(config, "0014")
            names = tx.conn.execute(sa.text("SELECT name FROM sqlite_master"))
            return set(names.scalars())

        names = await store.write(downgrade)
        assert not {"backlog_samples", "ix_backlog_samples_minute"} & names
        assert "deliveries" in names
    finally:
        await store.close()
