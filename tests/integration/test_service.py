"""The use cases over the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from statushooks import accounts, exceptions, service
from statushooks.deliveries import DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.messages import MessageStatus
from statushooks.service import EndpointSpec, Service, StatusReport
from statushooks.storage import idempotency, tables
from statushooks.storage.idempotency import Key
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

SMS_TYPE = "com.interact.messages.sms.status"
YC_SMS = "sms.message.updated"


async def account_with_endpoint(svc: Service, **spec: object) -> tuple[str, str]:
    created = await svc.create_account("acme")
    endpoint = await svc.create_endpoint(
        created.account.id,
        EndpointSpec(url="http://127.0.0.1:9/hook", **spec),  # type: ignore[arg-type]
    )
    return created.account.id, endpoint.id


async def deliveries_of(svc: Service, account_id: str) -> list[str]:
    page = await svc.store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
    return sorted(d.event_type for d in page.data)


async def test_submit_sms_stores_message_event_and_delivery(svc: Service) -> None:
    """Submitting an SMS records it with price and segments, one event and one delivery."""
    account_id, endpoint_id = await account_with_endpoint(svc)
    message = await svc.submit_sms(
        account_id,
        to="+447810000001",
        sender="Name",
        text="This is your message",
        custom_id="123",
    )
    assert (message.segments, message.region_code, message.currency) == (1, "GB", "USD")
    stored, history, events = await svc.get_message(account_id, message.id)
    assert stored == message
    assert [h.status for h in history] == [MessageStatus.SUBMITTED]
    assert [e.type for e in events] == [SMS_TYPE]
    payload = orjson.loads(events[0].payload)
    assert payload["id"] == events[0].id and payload["data"]["custom_id"] == "123"
    assert await deliveries_of(svc, account_id) == [SMS_TYPE]
    (delivery,) = (await svc.store.read(lambda tx: tx.list_deliveries(account_id))).data
    assert delivery.endpoint_id == endpoint_id and delivery.state is DeliveryState.PENDING


async def test_report_delivered_emits_both_dialects_once(svc: Service) -> None:
    """Delivered emits the Interact and the YCloud event; the duplicate report emits nothing."""
    account_id, _ = await account_with_endpoint(svc)
    message = await svc.submit_sms(account_id, to="+447810000001", sender="N", text="hi")
    first = await svc.report_status(account_id, message.id, status=MessageStatus.DELIVERED)
    again = await svc.report_status(account_id, message.id, status=MessageStatus.DELIVERED)
    late = await svc.report_status(account_id, message.id, status=MessageStatus.SENT)
    assert first.changed and sorted(e.type for e in first.events) == sorted([SMS_TYPE, YC_SMS])
    assert [e.sequence for e in first.events] == [2, 3]
    assert not again.changed and again.events == ()
    assert not late.changed
    assert await deliveries_of(svc, account_id) == sorted([SMS_TYPE, SMS_TYPE, YC_SMS])


async def test_fan_out_respects_subscriptions_filters_and_state(svc: Service) -> None:
    """Only active/paused endpoints whose types and status filter admit the event get it."""
    created = await svc.create_account("acme")
    acc = created.account.id
    url = "http://127.0.0.1:9/"
    everything = await svc.create_endpoint(acc, EndpointSpec(url=url))
    ycloud_only = await svc.create_endpoint(acc, EndpointSpec(url=url, enabled_events=(YC_SMS,)))
    failures = await svc.create_endpoint(
        acc, EndpointSpec(url=url, statuses=(MessageStatus.FAILED, MessageStatus.UNDELIVERED))
    )
    paused = await svc.create_endpoint(acc, EndpointSpec(url=url, state=EndpointState.PAUSED))
    disabled = await svc.create_endpoint(acc, EndpointSpec(url=url, state=EndpointState.DISABLED))
    message = await svc.submit_sms(acc, to="+447810000001", sender="N", text="hi")
    await svc.report_status(acc, message.id, status=MessageStatus.UNDELIVERED)
    rows = (await svc.store.read(lambda tx: tx.list_deliveries(acc, limit=250))).data
    got = sorted((d.endpoint_id, d.event_type) for d in rows)
    expected = sorted(
        [(everything.id, SMS_TYPE)] * 2
        + [(everything.id, YC_SMS), (ycloud_only.id, YC_SMS)]
        + [(failures.id, SMS_TYPE), (failures.id, YC_SMS)]
        + [(paused.id, SMS_TYPE)] * 2
        + [(paused.id, YC_SMS)]
    )
    assert got == expected
    assert disabled.id not in {d.endpoint_id for d in rows}


async def test_tenant_isolation(svc: Service) -> None:
    """Another account's endpoints never receive its events, and its ids answer NotFound."""
    acc_a, _ = await account_with_endpoint(svc)
    acc_b, endpoint_b = await account_with_endpoint(svc)
    message = await svc.submit_sms(acc_a, to="+447810000001", sender="N", text="hi")
    assert await deliveries_of(svc, acc_b) == []
    with pytest.raises(exceptions.NotFoundError):
        await svc.report_status(acc_b, message.id, status=MessageStatus.DELIVERED)
    with pytest.raises(exceptions.NotFoundError):
        await svc.get_endpoint(acc_a, endpoint_b)


async def test_bulk_reports_give_a_result_per_item(svc: Service) -> None:
    """Bulk reports apply in one transaction; bad items fail alone."""
    account_id, _ = await account_with_endpoint(svc)
    message = await svc.submit_email(
        account_id, to="user@example.com", sender="a@b.c", subject="s", text="t"
    )
    results = await svc.report_statuses(
        account_id,
        [
            StatusReport(
                message_id=message.id,
                status=MessageStatus.FAILED,
                error_code="402",
                error_message="Unsubscribes",
            ),
            StatusReport(message_id=message.id, status=MessageStatus.DELIVERED),
            StatusReport(message_id="msg_nope", status=MessageStatus.DELIVERED),
            StatusReport(message_id=message.id, status=MessageStatus.CLICKED),
        ],
    )
    assert results[0].result is not None and results[0].result.changed
    assert results[1].result is not None and not results[1].result.changed
    assert isinstance(results[2].error, exceptions.NotFoundError)
    assert isinstance(results[3].error, exceptions.ValidationError)
    (event,) = results[0].result.events
    body = orjson.loads(event.payload)
    assert body["emailDelivery"]["errorCode"] == "402"


async def test_tracked_link_click(svc: Service) -> None:
    """Tracked links are rewritten; a click emits a clicked event and gives the original URL."""
    account_id, _ = await account_with_endpoint(svc)
    message = await svc.submit_sms(
        account_id,
        to="+447810000001",
        sender="N",
        text="See https://example.com/offer?x=1 now",
        track_links=True,
    )
    assert message.text is not None and "https://example.com" not in message.text
    code = message.text.split("/l/")[1].split()[0]
    url = await svc.record_click(code, user_agent="Mozilla/5.0")
    assert url == "https://example.com/offer?x=1"
    _, history, events = await svc.get_message(account_id, message.id)
    assert history[-1].status is MessageStatus.CLICKED
    assert history[-1].detail == {"user_agent": "Mozilla/5.0", "url": url}
    assert orjson.loads(events[-1].payload)["data"]["status"] == "clicked"


async def test_only_a_first_click_is_recorded(svc: Service) -> None:
    """A second click on any link of a message redirects but records nothing: one clicked
    status, one clicked event, and the user agent kept to its first 512 characters."""
    account_id, _ = await account_with_endpoint(svc)
    message = await svc.submit_sms(
        account_id,
        to="+447810000001",
        sender="N",
        text="See https://example.com/a and https://example.com/b",
        track_links=True,
    )
    assert message.text is not None
    first, second = (part.split()[0] for part in message.text.split("/l/")[1:])
    huge = "M" * (1024 * 1024)
    assert await svc.record_click(first, user_agent=huge) == "https://example.com/a"
    for code in (first, second, first):
        await svc.record_click(code, user_agent="again")
    assert await svc.record_click(second, user_agent=None) == "https://example.com/b"
    _, history, events = await svc.get_message(account_id, message.id)
    assert [h.status for h in history].count(MessageStatus.CLICKED) == 1
    assert history[-1].detail == {"user_agent": "M" * 512, "url": "https://example.com/a"}
    statuses = [orjson.loads(e.payload)["data"]["status"] for e in events]
    assert statuses == ["submitted", "clicked"]


async def test_a_click_that_changes_nothing_takes_no_write(svc: Service, monkeypatch) -> None:
    """A click on a failed message, or a second click, is answered from a read: the link is
    unauthenticated, and each write would take the writer's turn (on SQLite, every tenant's)."""
    account_id, _ = await account_with_endpoint(svc)
    texts = ("Go https://example.com/failed", "Go https://example.com/clicked")
    sent = [
        await svc.submit_sms(account_id, to="+447810000001", sender="N", text=t, track_links=True)
        for t in texts
    ]
    codes = [m.text.split("/l/")[1].split()[0] for m in sent if m.text is not None]
    await svc.report_status(account_id, sent[0].id, status=MessageStatus.FAILED)
    await svc.record_click(codes[1], user_agent=None)
    writes = 0
    write = svc.store.write

    async def counted(work: Any) -> Any:
        nonlocal writes
        writes += 1
        return await write(work)

    monkeypatch.setattr(svc.store, "write", counted)
    assert await svc.record_click(codes[0], user_agent=None) == "https://example.com/failed"
    assert await svc.record_click(codes[1], user_agent=None) == "https://example.com/clicked"
    assert writes == 0


async def test_rotate_secret_keeps_old_one_for_a_day(svc: Service) -> None:
    """Rotation puts a new secret first and lets the old one sign for 24 hours."""
    account_id, endpoint_id = await account_with_endpoint(svc)
    before = await svc.get_endpoint(account_id, endpoint_id)
    after = await svc.rotate_secret(account_id, endpoint_id)
    now = datetime.now(UTC)
    assert after.secrets[1].value == before.secrets[0].value
    assert after.live_secrets(now) == (after.secrets[0].value, before.secrets[0].value)
    assert after.live_secrets(now + timedelta(hours=25)) == (after.secrets[0].value,)


async def test_endpoint_validation(svc: Service) -> None:
    """Unknown event types and a bad in-flight cap are refused."""
    created = await svc.create_account("acme")
    with pytest.raises(exceptions.ValidationError):
        await svc.create_endpoint(
            created.account.id, EndpointSpec(url="http://127.0.0.1/", enabled_events=("nope",))
        )
    with pytest.raises(exceptions.ValidationError):
        await svc.create_endpoint(
            created.account.id, EndpointSpec(url="http://127.0.0.1/", max_in_flight=0)
        )


async def test_send_test_and_recover(svc: Service) -> None:
    """A test send queues the example for one endpoint; recover re-queues failed deliveries."""
    account_id, endpoint_id = await account_with_endpoint(svc)
    delivery = await svc.send_test(account_id, endpoint_id, YC_SMS)
    assert delivery.message_id is None and delivery.event_type == YC_SMS
    await svc.store.write(
        lambda tx: tx.conn.execute(
            sa.update(tables.deliveries)
            .where(tables.deliveries.c.id == delivery.id)
            .values(state=DeliveryState.FAILED.value)
        )
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    assert await svc.recover(account_id, endpoint_id, since=since) == 1
    requeued = await svc.store.read(lambda tx: tx.get_delivery(account_id, delivery.id))
    assert requeued.state is DeliveryState.PENDING
    assert await svc.recover(account_id, endpoint_id, since=since) == 0


#: On SQLite a large batch of reports is worked out before its write transaction; on
#: PostgreSQL inside it, under its messages' row locks, so nothing can come between.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def interfere_after_planning(
    monkeypatch: pytest.MonkeyPatch, svc: Service, interference: Callable[[], Awaitable[object]]
) -> None:
    """Run ``interference`` once, after the next report's changes were worked out from what
    it read (in a read transaction of their own) and before they are written: as another
    request's would, committed between the two. Every batch, however small, is worked out
    ahead here (``PLAN_AHEAD_MIN``)."""
    monkeypatch.setattr(service, "PLAN_AHEAD_MIN", 1)
    plan = Service._plan
    planned: list[object] = []
    pending = [interference]

    def plan_and_note(self: Service, *args: Any) -> Any:
        made = plan(self, *args)
        planned.append(made)
        return made

    read = svc.store.read

    async def read_then_interfere(work: Callable[[Transaction], Any]) -> Any:
        planned.clear()
        result = await read(work)
        if planned and pending:  # this read worked a report out
            await pending.pop()()
        return result

    monkeypatch.setattr(Service, "_plan", plan_and_note)
    monkeypatch.setattr(svc.store, "read", read_then_interfere)


@SQLITE_ONLY
async def test_a_report_whose_message_changed_after_it_was_read_is_applied_again(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same receipt, committed by another request meanwhile: this one then finds it
    applied already and changes nothing (no second history entry, no event twice)."""
    account_id, _ = await account_with_endpoint(svc)
    message = await svc.submit_sms(account_id, to="+447810000001", sender="Name", text="hi")

    async def same_receipt_first() -> object:
        return await svc.report_status(account_id, message.id, status=MessageStatus.DELIVERED)

    interfere_after_planning(monkeypatch, svc, same_receipt_first)
    delivered = StatusReport(message_id=message.id, status=MessageStatus.DELIVERED)
    (item,) = await svc.report_statuses(account_id, [delivered])  # planned ahead: a bulk
    assert not item.unwrap().changed
    stored, history, events = await svc.get_message(account_id, message.id)
    assert [record.status for record in history] == [
        MessageStatus.SUBMITTED,
        MessageStatus.DELIVERED,
    ]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert stored.last_sequence == len(events) == 3  # submitted: 1 event; delivered: 2


@SQLITE_ONLY
async def test_reports_fan_out_to_the_endpoints_as_they_are_when_written(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint deleted while the report was being worked out gets no delivery (and its
    deletion does not make the report fail)."""
    account_id, endpoint_id = await account_with_endpoint(svc)
    message = await svc.submit_sms(account_id, to="+447810000001", sender="Name", text="hi")
    await svc.delete_endpoint(account_id, endpoint_id)
    kept = await svc.create_endpoint(account_id, EndpointSpec(url="http://127.0.0.1:9/kept"))

    async def delete_kept() -> object:
        return await svc.delete_endpoint(account_id, kept.id)

    interfere_after_planning(monkeypatch, svc, delete_kept)
    delivered = StatusReport(message_id=message.id, status=MessageStatus.DELIVERED)
    (item,) = await svc.report_statuses(account_id, [delivered])  # planned ahead: a bulk
    assert item.unwrap().changed
    assert await deliveries_of(svc, account_id) == []


async def test_bulk_reports_apply_in_order_within_one_batch(svc: Service) -> None:
    """A message reported twice in one batch gets both changes, sequenced in report order."""
    account_id, _ = await account_with_endpoint(svc)
    first = await svc.submit_sms(account_id, to="+447810000001", sender="Name", text="hi")
    second = await svc.submit_sms(account_id, to="+447810000002", sender="Name", text="hi")
    results = await svc.report_statuses(
        account_id,
        [
            StatusReport(message_id=first.id, status=MessageStatus.DELIVERED),
            StatusReport(message_id=second.id, status=MessageStatus.FAILED, error_code="30008"),
            StatusReport(message_id=first.id, status=MessageStatus.CLICKED),
            StatusReport(message_id=first.id, status=MessageStatus.SENT),
        ],
    )
    assert [r.result is not None and r.result.changed for r in results] == [
        True,
        True,
        True,
        False,
    ]
    stored, history, events = await svc.get_message(account_id, first.id)
    assert stored.status is MessageStatus.CLICKED
    assert [record.status for record in history] == [
        MessageStatus.SUBMITTED,
        MessageStatus.DELIVERED,
        MessageStatus.CLICKED,
    ]
    assert [event.sequence for event in events] == sorted(event.sequence for event in events)
    assert stored.last_sequence == max(event.sequence for event in events)
    failed, _, _ = await svc.get_message(account_id, second.id)
    assert failed.status is MessageStatus.FAILED and failed.error_code == "30008"


# -- idempotency keys: the key, the work and its answer in one transaction -------------------


def key(scope: str, name: str = "key-1", request_hash: str = "hash-1", **kw: Any) -> Key:
    """An ``Idempotency-Key`` whose answer is the created record's id."""
    kw.setdefault("answer", lambda made: orjson.dumps({"id": made.id}))
    return Key(scope=scope, key=name, request_hash=request_hash, status_code=201, **kw)


async def counts(svc: Service, *names: str) -> dict[str, int]:
    """The number of rows of each table."""

    def work(tx: Transaction) -> dict[str, int]:
        return {
            name: tx.conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in names
        }

    return await svc.store.read(work)


OUTBOX = ("messages", "status_history", "events", "deliveries", "idempotency_keys")


async def test_a_keyed_use_case_that_fails_after_writing_keeps_nothing_and_can_be_retried(
    svc: Service,
) -> None:
    """The answer fails after the message, its history, its event and its delivery were
    written: none of them is kept, nor the key; the same key then runs the work once, and
    replays its answer after that (another request with the key is refused)."""
    account_id, _ = await account_with_endpoint(svc)
    before = await counts(svc, *OUTBOX)
    assert before == dict.fromkeys(OUTBOX, 0)

    def broken_answer(_made: object) -> bytes:
        raise RuntimeError("the answer could not be made")

    sms = {"to": "+447810000001", "sender": "Name", "text": "hi"}
    with pytest.raises(RuntimeError, match="could not be made"):
        await svc.submit_sms(account_id, idempotency=key(account_id, answer=broken_answer), **sms)
    assert await counts(svc, *OUTBOX) == before

    first = key(account_id)
    message = await svc.submit_sms(account_id, idempotency=first, **sms)
    assert first.body == orjson.dumps({"id": message.id})
    after = await counts(svc, *OUTBOX)
    assert after == {
        "messages": 1,
        "status_history": 1,
        "events": 1,
        "deliveries": 1,
        "idempotency_keys": 1,
    }

    with pytest.raises(idempotency.ReplayedError) as replayed:
        await svc.submit_sms(account_id, idempotency=key(account_id), **sms)
    assert (replayed.value.status_code, replayed.value.body) == (201, first.body)
    with pytest.raises(idempotency.KeyReusedError):
        await svc.submit_sms(account_id, idempotency=key(account_id, request_hash="other"), **sms)
    assert await counts(svc, *OUTBOX) == after


async def test_a_keyed_report_that_is_refused_keeps_no_key(svc: Service) -> None:
    """A report of an unknown message fails inside its transaction: the key is not kept, so
    the same key runs the work again (and fails again) instead of replaying a failure."""
    account_id, _ = await account_with_endpoint(svc)
    for _ in range(2):
        with pytest.raises(exceptions.NotFoundError):
            await svc.report_status(
                account_id,
                "msg_nope",
                status=MessageStatus.DELIVERED,
                idempotency=key(account_id, answer=lambda _results: b"[]"),
            )
    assert await counts(svc, *OUTBOX) == dict.fromkeys(OUTBOX, 0)


async def test_two_requests_with_one_key_at_once_run_the_work_once(svc: Service) -> None:
    """Requests with the same key at the same time: one runs the work, the others get its
    answer replayed (on PostgreSQL the later insert of the key waits for the first's commit,
    then rolls its own work back)."""
    account_id, _ = await account_with_endpoint(svc)
    keys = [key(account_id) for _ in range(5)]
    results = await asyncio.gather(
        *(
            svc.submit_sms(account_id, to="+447810000001", sender="N", text="hi", idempotency=k)
            for k in keys
        ),
        return_exceptions=True,
    )
    [message] = [result for result in results if not isinstance(result, BaseException)]
    replays = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(replay, idempotency.ReplayedError) for replay in replays), replays
    assert {replay.body for replay in replays} == {orjson.dumps({"id": message.id})}
    assert (await counts(svc, "messages", "idempotency_keys")) == {
        "messages": 1,
        "idempotency_keys": 1,
    }


# -- the API key cache -----------------------------------------------------------------------


async def test_a_key_deleted_here_stops_at_once_and_elsewhere_within_the_ttl(
    svc: Service, database_url: str
) -> None:
    """The deleting process forgets the key at once; another process (a service of its own on
    the same database) keeps the key it remembers until ``KEY_CACHE_TTL`` has passed."""
    elapsed = [0.0]
    other_store = await Store.open(database_url, upgrade=False)
    try:
        other = Service(
            store=other_store,
            settings=svc.settings,
            pricing=svc.pricing,
            keys=accounts.KeyCache(ttl=service.KEY_CACHE_TTL, size=100, clock=lambda: elapsed[0]),
        )
        created = await svc.create_account("acme")
        kept = await svc.create_api_key(created.account.id)
        account_id = created.account.id
        assert await svc.authenticate(created.api_key) == account_id
        assert await other.authenticate(created.api_key) == account_id
        assert await other.authenticate(kept[1]) == account_id

        await svc.delete_api_key(created.api_key_id)
        assert await svc.authenticate(created.api_key) is None
        assert await svc.authenticate(kept[1]) == account_id
        elapsed[0] = service.KEY_CACHE_TTL - 0.1
        assert await other.authenticate(created.api_key) == account_id  # remembered
        elapsed[0] = service.KEY_CACHE_TTL
        assert await other.authenticate(created.api_key) is None
        assert await other.authenticate(kept[1]) == account_id  # looked up again: still there
    finally:
        await other_store.close()


async def test_a_key_deleted_while_it_is_being_looked_up_stops_at_once(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request authenticating while the key is deleted may pass (it began first); any
    request after ``delete_api_key`` returned is refused."""
    created = await svc.create_account("acme")
    looked_up, go_on = asyncio.Event(), asyncio.Event()
    read = svc.store.read

    async def slow_read(work: Callable[[Transaction], Any]) -> Any:
        found = await read(work)  # the key is still there
        looked_up.set()
        await go_on.wait()  # its answer comes back after the deletion (a busy loop's turn)
        return found

    monkeypatch.setattr(svc.store, "read", slow_read)
    during = asyncio.ensure_future(svc.authenticate(created.api_key))
    await looked_up.wait()
    monkeypatch.setattr(svc.store, "read", read)
    await svc.delete_api_key(created.api_key_id)
    go_on.set()
    assert await during == created.account.id
    assert await svc.authenticate(created.api_key) is None
