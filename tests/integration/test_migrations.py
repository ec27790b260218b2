"""Schema migrations that move data: a database of an earlier revision, upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from statushooks.deliveries import Delivery, DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.events import interact
from statushooks.storage import migrate
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

_WHEN = "'2026-12-01 00:00:00.000000'"
OLD_ROWS = (
    f"INSERT INTO accounts (id, name, created_at) VALUES ('acc_1', 'acme', {_WHEN})",
    (
        "INSERT INTO endpoints (id, account_id, url, description, enabled_events, statuses, state,"
        " secrets, max_in_flight, ordered, metadata, created_at, updated_at) VALUES ('ep_1',"
        " 'acc_1', 'http://127.0.0.1:9/hook', '', '[]', '[]', 'active',"
        f' \'[{{"value": "whsec_x", "expires_at": null}}]\', 10, 1, \'{{}}\', {_WHEN}, {_WHEN})'
    ),
    (
        "INSERT INTO events (id, account_id, message_id, type, status, sequence, payload,"
        f" created_at) VALUES ('evt_1', 'acc_1', NULL, '{interact.NAME}', 'submitted', 0, x'7b7d',"
        f" {_WHEN})"
    ),
    (
        "INSERT INTO deliveries (id, account_id, event_id, endpoint_id, message_id, event_type,"
        " sequence, state, attempts, next_attempt_at, created_at, updated_at) VALUES ('dlv_1',"
        f" 'acc_1', 'evt_1', 'ep_1', NULL, '{interact.NAME}', 0, 'pending', 0, {_WHEN}, {_WHEN},"
        f" {_WHEN})"
    ),
)
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
        # The rows as 0006 had them, written by hand: today's code writes today's columns.
        for statement in OLD_ROWS:
            await store.write(lambda tx, statement=statement: tx.conn.execute(sa.text(statement)))
        account = "acc_1"
        [delivery] = (await store.read(lambda tx: tx.list_deliveries(account))).data
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(" ")
        await store.write(
            lambda tx: tx.conn.execute(LEASED_ROW, {"expires": expires, "id": delivery.id})
        )
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
