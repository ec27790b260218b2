"""Inbound texts through ``Service.receive_inbound_sms`` (as a provider connector hands them
over) over the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from statushooks import exceptions, inbound
from statushooks.events import interact, ycloud
from statushooks.inbound import InboundStatus, KeywordAction
from statushooks.messages import MessageStatus
from statushooks.service import EndpointSpec, Service
from statushooks.storage.idempotency import Key, ReplayedError

RECEIVED = datetime(2026, 12, 7, 1, 59, 58, tzinfo=UTC)
CUSTOMER = "+447838970000"


async def _account(svc: Service, **spec: object) -> str:
    account_id = (await svc.create_account("acme")).account.id
    await svc.create_endpoint(
        account_id,
        EndpointSpec(url="http://127.0.0.1:9/hook", **spec),  # type: ignore[arg-type]
    )
    return account_id


def _parsed(account_id: str, text: str) -> inbound.InboundSms:
    """An inbound text as a connector would parse it from its provider's callback."""
    return inbound.new_inbound_sms(
        account_id=account_id, sender=CUSTOMER, to="+447860000000", text=text,
        received_at=RECEIVED, now=RECEIVED,
    )  # fmt: skip


async def test_an_inbound_text_is_stored_as_events_with_deliveries(svc: Service) -> None:
    """A plain text: its two inbound events, outside any message's order, each delivered to
    the endpoint; ``sendTime`` is when it was received."""
    account_id = await _account(svc)
    result = await svc.receive_inbound_sms(_parsed(account_id, "Hello?"))
    assert result.action is None and not result.suppressed
    assert [(e.type, e.status) for e in result.events] == [
        (interact.INBOUND, InboundStatus.INBOUND),
        (ycloud.SMS_INBOUND, InboundStatus.INBOUND),
    ]
    stored = (await svc.store.read(lambda tx: tx.list_events(account_id))).data
    assert {(e.id, e.message_id, e.sequence, e.status) for e in stored} == {
        (e.id, None, 0, InboundStatus.INBOUND) for e in result.events
    }
    deliveries = (await svc.store.read(lambda tx: tx.list_deliveries(account_id))).data
    assert sorted(d.event_type for d in deliveries) == sorted(
        [interact.INBOUND, ycloud.SMS_INBOUND]
    )
    assert b'"sendTime":"2026-12-07T01:59:58.000Z"' in result.events[1].payload


async def test_opt_out_then_opt_in(svc: Service) -> None:
    """STOP suppresses and emits the opt-out event once; an SMS then fails at once with both
    events; UNSTOP lifts the suppression."""
    account_id = await _account(svc)
    stop = await svc.receive_inbound_sms(_parsed(account_id, "stop"))
    assert (stop.action, stop.keyword, stop.suppressed) == (KeywordAction.OPT_OUT, "STOP", True)
    assert [e.type for e in stop.events][-1] == interact.OPT_OUT
    again = await svc.receive_inbound_sms(_parsed(account_id, "STOP"))
    assert interact.OPT_OUT not in [e.type for e in again.events]

    message = await svc.submit_sms(account_id, to=CUSTOMER, sender="Acme", text="Sale")
    assert message.status is MessageStatus.FAILED
    assert (message.error_code, message.error_message) == (
        inbound.OPTED_OUT_CODE,
        inbound.OPTED_OUT_MESSAGE,
    )
    stored, history, events = await svc.get_message(account_id, message.id)
    assert stored == message
    assert [h.status for h in history] == [MessageStatus.SUBMITTED, MessageStatus.FAILED]
    assert [(e.type, e.status, e.sequence) for e in events] == [
        (interact.NAME, MessageStatus.SUBMITTED, 1),
        (interact.NAME, MessageStatus.FAILED, 2),
        (ycloud.SMS, MessageStatus.FAILED, 3),
    ]
    assert (await svc.submit_email(
        account_id, to="a@example.com", sender="b@example.com", subject="Hi", text="x"
    )).status is MessageStatus.SUBMITTED  # fmt: skip

    back = await svc.receive_inbound_sms(_parsed(account_id, "UNSTOP"))
    assert (back.action, back.suppressed) == (KeywordAction.OPT_IN, False)
    resent = await svc.submit_sms(account_id, to=CUSTOMER, sender="Acme", text="Hi")
    assert resent.status is MessageStatus.SUBMITTED


async def test_a_retried_inbound_text_is_taken_once(svc: Service) -> None:
    """With an idempotency key, a connector's retry of the same text changes nothing twice."""
    account_id = await _account(svc)
    received = _parsed(account_id, "STOP")

    def key() -> Key:
        return Key(
            scope=account_id, key="prov-msg-1", request_hash="h", status_code=201,
            answer=lambda result: result.sms.id.encode(),
        )  # fmt: skip

    first = await svc.receive_inbound_sms(received, idempotency=key())
    with pytest.raises(ReplayedError) as replay:
        await svc.receive_inbound_sms(received, idempotency=key())
    assert replay.value.body == first.sms.id.encode()
    events = (await svc.store.read(lambda tx: tx.list_events(account_id))).data
    assert len(events) == len(first.events) == 3


async def test_suppressions_by_hand(svc: Service) -> None:
    """Added twice is one entry; removing a number not on the list is NotFound."""
    account_id = await _account(svc)
    first, added = await svc.add_suppression(account_id, CUSTOMER)
    again, added_again = await svc.add_suppression(account_id, CUSTOMER)
    assert (added, added_again) == (True, False) and first == again
    assert first.source == "api"
    await svc.remove_suppression(account_id, CUSTOMER)
    with pytest.raises(exceptions.NotFoundError):
        await svc.remove_suppression(account_id, CUSTOMER)
    with pytest.raises(exceptions.ValidationError):
        await svc.add_suppression(account_id, "07838970000")


async def test_keywords_are_per_account(svc: Service) -> None:
    """One account's keywords leave the other's defaults alone."""
    first = await _account(svc)
    second = (await svc.create_account("other")).account.id
    await svc.set_sms_keywords(first, opt_out=["halt"], opt_in=["go"])
    assert (await svc.sms_keywords(first)).opt_out == ("HALT",)
    assert await svc.sms_keywords(second) == inbound.DEFAULT_KEYWORDS
    await svc.set_sms_keywords(first, opt_out=["halt", "stop"], opt_in=[])
    assert (await svc.sms_keywords(first)).opt_out == ("HALT", "STOP")
