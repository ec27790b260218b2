"""The dashboard's bounded reads and the account's portal settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from statushooks import config, exceptions, ids, sms
from statushooks.dashboard import views
from statushooks.deliveries import DeliveryState
from statushooks.service import EndpointSpec, Service
from statushooks.storage import migrate
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

EMAIL = "email.delivery.updated"
SMS = "sms.message.updated"


async def with_deliveries(svc: Service, count: int) -> tuple[str, str, list[str]]:
    """An account, an endpoint and ``count`` test deliveries to it (alternating types),
    newest last."""
    account = (await svc.create_account("acme")).account.id
    endpoint = await svc.create_endpoint(account, EndpointSpec(url="http://127.0.0.1:9/h"))
    made = []
    for index in range(count):
        kind = EMAIL if index % 2 else SMS
        made.append((await svc.send_test(account, endpoint.id, kind)).id)
    return account, endpoint.id, made


async def test_scan_pages_read_a_bounded_window(svc: Service) -> None:
    account, endpoint, made = await with_deliveries(svc, 9)
    other, _, _ = await with_deliveries(svc, 2)
    newest_first = sorted(made, reverse=True)

    def scan(
        tx: Transaction, before: str | None, **filters: object
    ) -> tuple[list[str], str | None]:
        page = tx.scan_deliveries(account, before=before, scan=4, limit=3, **filters)  # type: ignore[arg-type]
        return [d.id for d in page.data], page.next_cursor

    first = await svc.store.read(lambda tx: scan(tx, None))
    assert first == (newest_first[:3], newest_first[2])
    # Filtered: of the 4 read, those of the type; the cursor goes on from the 4th read.
    emails = await svc.store.read(lambda tx: scan(tx, None, event_type=EMAIL))
    wanted = [d for d in newest_first[:4] if made.index(d) % 2]
    assert emails == (wanted, newest_first[3])
    rest = await svc.store.read(lambda tx: scan(tx, newest_first[7]))
    assert rest == (newest_first[8:], None)
    endpoint_only = await svc.store.read(lambda tx: scan(tx, None, endpoint_id=endpoint))
    assert endpoint_only[0] == newest_first[:3]
    pending = await svc.store.read(lambda tx: scan(tx, None, state=DeliveryState.SUCCEEDED))
    assert pending == ([], newest_first[3])
    foreign = await svc.store.read(
        lambda tx: tx.scan_deliveries(other, before=None, scan=100, limit=50)
    )
    assert not {d.id for d in foreign.data} & set(made)


async def test_counts_stop_at_their_cap(svc: Service) -> None:
    _, endpoint, _ = await with_deliveries(svc, 5)
    now = svc.clock()

    def counts(tx: Transaction) -> tuple[int, ...]:
        due = tx.pending_sample(now + timedelta(seconds=1), cap=100)
        capped = tx.pending_sample(now + timedelta(seconds=1), cap=2)
        return (
            tx.count_pending(endpoint_id=endpoint, cap=100),
            tx.count_pending(endpoint_id=endpoint, cap=3),
            tx.count_pending(cap=100),
            due.pending,
            due.due,
            due.in_flight,
            capped.pending,
            capped.due,
        )

    assert await svc.store.read(counts) == (5, 4, 5, 5, 5, 0, 3, 3)


async def test_the_event_log_filters_by_message_and_time(svc: Service) -> None:
    account, endpoint, made = await with_deliveries(svc, 3)
    message = await svc.submit_sms(account, to="+447810000001", sender="A", text="hi")
    log = await views.event_log(svc.store, account, views.LogFilters(message_id=message.id))
    assert log.page.data and {d.message_id for d in log.page.data} == {message.id}
    assert log.page.next_cursor is None
    older = await views.event_log(
        svc.store, account, views.LogFilters(before=message.created_at - timedelta(days=1))
    )
    assert older.page.data == []
    everything = await views.event_log(svc.store, account, views.LogFilters())
    assert set(made) <= {d.id for d in everything.page.data}
    other = (await svc.create_account("other")).account.id
    with pytest.raises(exceptions.NotFoundError):
        await views.event_log(svc.store, other, views.LogFilters(message_id=message.id))
    assert ids.has_prefix(endpoint, "ep")


async def test_pages_data_of_an_account(svc: Service) -> None:
    account, endpoint, _ = await with_deliveries(svc, 2)
    now = svc.clock()
    overview = await views.overview(svc.store, account, views.WINDOWS["1h"], now)
    assert (overview.backlog, overview.endpoints, overview.summary.attempts) == (2, 1, 0)
    rows = await views.endpoint_rows(svc.store, account, now)
    assert [row.backlog for row in rows] == [2]
    detail = await views.endpoint_detail(svc.store, account, endpoint, views.WINDOWS["24h"], now)
    assert len(detail.deliveries) == 2 and detail.failures == []
    event = await views.event_detail(svc.store, account, detail.deliveries[0].event_id)
    assert event.payload.startswith("{\n") and len(event.deliveries) == 1
    health = await views.queue_health(svc.store, now)
    assert (health.queue.pending, health.queue.due) == (2, 2)
    other = (await svc.create_account("other")).account.id
    with pytest.raises(exceptions.NotFoundError):
        await views.endpoint_detail(svc.store, other, endpoint, views.WINDOWS["1h"], now)


async def test_portal_settings_change_field_by_field(svc: Service) -> None:
    account = (await svc.create_account("acme")).account.id
    updated = await svc.update_account(
        account, portal={"brand_name": "Acme", "frame_ancestors": ["https://A.example"]}
    )
    assert updated.portal.frame_ancestors == ("https://a.example",)
    updated = await svc.update_account(account, name="Acme Inc", portal={"accent_color": "#123456"})
    read = await svc.get_account(account)
    assert read == updated
    assert (read.name, read.portal.brand_name, read.portal.accent_color) == (
        "Acme Inc",
        "Acme",
        "#123456",
    )
    with pytest.raises(exceptions.ValidationError):
        await svc.update_account(account, portal={"accent_color": "nope"})
    with pytest.raises(exceptions.ValidationError):
        await svc.update_account(account, portal={"colour": "#000000"})
    with pytest.raises(exceptions.NotFoundError):
        await svc.update_account("acc_nope", name="x")
    page = await views.account_page(svc.store, None)
    assert [a.id for a in page.data] == [account]


async def test_no_dashboard_read_scans_a_large_table(tmp_path: Path) -> None:
    """Every statement of every page reads an index range (SQLite's query plans): none scans
    ``deliveries``, ``attempts`` or ``events`` without an index."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}"
    await migrate.upgrade_url(url)
    store = await Store.open(url, upgrade=False)
    try:
        settings = config.load_settings(database_url=url, allow_private_urls=True)
        svc = Service(store=store, settings=settings, pricing=sms.PricingTable.load())
        account, endpoint, made = await with_deliveries(svc, 3)
        message = await svc.submit_sms(account, to="+447810000001", sender="A", text="hi")
        event_id = (await svc.store.read(lambda tx: tx.get_delivery(account, made[0]))).event_id
        now = svc.clock()
        window = views.WINDOWS["24h"]
        statements: list[str] = []

        def record(tx: Transaction) -> None:
            raw = tx.conn.connection.driver_connection
            raw.set_trace_callback(statements.append)
            try:
                for read in _every_read(
                    account, endpoint, made[0], event_id, message.id, now, window
                ):
                    read(tx)
            finally:
                raw.set_trace_callback(None)

        def plans(tx: Transaction) -> list[tuple[str, str]]:
            found = []
            for sql in statements:
                if sql.lstrip().upper().startswith("SELECT"):
                    for row in tx.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"):
                        found.append((str(row[3]), sql))
            return found

        await store.read(record)
        found = await store.read(plans)
        assert len(found) > 20
        scans = [
            (step, sql)
            for step, sql in found
            if re.match(r"SCAN (deliveries|attempts|events|backlog_samples)\b", step)
            and "USING" not in step
        ]
        assert scans == []
    finally:
        await store.close()


def _every_read(
    account: str,
    endpoint: str,
    delivery_id: str,
    event_id: str,
    message_id: str,
    now: datetime,
    window: views.Window,
) -> list[Callable[[Transaction], object]]:
    since = now - window.span
    return [
        lambda tx: tx.attempt_points(endpoint, since=since, limit=100),
        lambda tx: tx.failed_attempts(endpoint, scan=100, limit=10),
        lambda tx: tx.newest_attempt_points(limit=100),
        lambda tx: tx.count_pending(endpoint_id=endpoint, cap=100),
        lambda tx: tx.count_pending(cap=100),
        lambda tx: tx.pending_sample(now, cap=100),
        lambda tx: tx.backlog_peaks(account, first=int(since.timestamp()) // 60, width=60),
        lambda tx: tx.backlog_by_account(),
        lambda tx: tx.scan_deliveries(account, before=None, scan=100, limit=10),
        lambda tx: tx.scan_deliveries(
            account,
            before=ids.first_id("dlv", now.timestamp()),
            scan=100,
            limit=10,
            endpoint_id=endpoint,
            event_type=SMS,
            state=DeliveryState.FAILED,
        ),
        lambda tx: tx.deliveries_of_events(account, [event_id]),
        lambda tx: tx.message_events(message_id),
        lambda tx: tx.status_history(message_id),
        lambda tx: tx.get_event(account, event_id),
        lambda tx: tx.list_attempts(delivery_id, limit=50),
        lambda tx: tx.troubled_endpoints(account, limit=20),
        lambda tx: tx.list_accounts(limit=50),
        lambda tx: tx.list_workers(),
    ]
