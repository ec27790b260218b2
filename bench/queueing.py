"""Filling the queue fast, in the harness process, through the store (never the HTTP API).

``Service`` makes the account, the endpoints and one real SMS submission (so the rows are the
ones production writes); the bulk writes the same rows (the store's own row converters) with
one multi-row INSERT per table and ``Transaction.insert_deliveries``, 500 messages a transaction.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from statushooks import ids, messages, sms
from statushooks.config import Settings
from statushooks.deliveries import Delivery, Event
from statushooks.endpoints import Endpoint
from statushooks.events import catalog
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.service import EndpointSpec, Service
from statushooks.storage import records
from statushooks.storage import tables as t
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

CHUNK = 500  # messages per transaction
TEXT = "Your verification code is 123456. It expires in 10 minutes. Do not share it with anyone."
TO = "+447901614024"


@dataclass(frozen=True, kw_only=True)
class Fixture:
    account_id: str
    endpoints: tuple[Endpoint, ...]
    service: Service


def bench_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, allow_private_urls=True)


async def open_store(database_url: str) -> Store:
    return await Store.open(database_url)


async def setup(
    store: Store,
    settings: Settings,
    urls: Sequence[str],
    *,
    enabled_events: tuple[str, ...] = (),
    max_in_flight: int | None = None,
) -> Fixture:
    """One account with one endpoint per URL."""
    service = Service(store=store, settings=settings, pricing=sms.PricingTable.load(None))
    account = await service.create_account("bench")
    endpoints = []
    for url in urls:
        extra = {"max_in_flight": max_in_flight} if max_in_flight else {}
        spec = EndpointSpec(url=url, enabled_events=enabled_events, **extra)  # type: ignore[arg-type]
        endpoints.append(await service.create_endpoint(account.account.id, spec))
    return Fixture(account_id=account.account.id, endpoints=tuple(endpoints), service=service)


def _message(account_id: str, now: datetime, pricing: sms.PricingTable) -> Message:
    segments = sms.count_segments(TEXT)
    price = pricing.price(Channel.SMS, "GB", segments)
    return messages.new_message(
        account_id=account_id,
        channel=Channel.SMS,
        to=TO,
        now=now,
        sender="Bench",
        text=TEXT,
        segments=segments,
        region_code="GB",
        price=price.amount,
        currency=price.currency,
    )


def _submitted_events(message: Message, now: datetime, base_url: str) -> list[Event]:
    events = []
    for sequence, event_type in enumerate(
        catalog.emitted_by(message.channel, MessageStatus.SUBMITTED), start=1
    ):
        event_id = ids.new_id("evt", now.timestamp())
        body = catalog.render(
            event_type,
            message,
            status=MessageStatus.SUBMITTED,
            event_id=event_id,
            now=now,
            public_base_url=base_url,
        )
        events.append(
            Event(
                id=event_id,
                account_id=message.account_id,
                message_id=message.id,
                type=event_type.name,
                status=MessageStatus.SUBMITTED,
                payload=orjson.dumps(body),
                sequence=sequence,
                created_at=now,
            )
        )
    return events


async def queue_submitted(
    fixture: Fixture, n_messages: int, *, progress: bool = True
) -> tuple[list[str], float]:
    """Submit ``n_messages`` SMS (1 ``submitted`` event each, fanned out to every endpoint).

    Returns the message ids and the seconds it took.
    """
    service = fixture.service
    started = time.perf_counter()
    first = await service.submit_sms(fixture.account_id, to=TO, sender="Bench", text=TEXT)
    message_ids = [first.id]
    remaining = n_messages - 1
    while remaining > 0:
        size = min(CHUNK, remaining)
        message_ids.extend(await queue_chunk(fixture, size))
        remaining -= size
        if progress and len(message_ids) % 20_000 < CHUNK:
            print(f"  queued {len(message_ids):,} messages", flush=True)
    return message_ids, time.perf_counter() - started


async def queue_chunk(fixture: Fixture, size: int) -> list[str]:
    """``size`` messages in one transaction: one multi-row INSERT per table."""
    service = fixture.service
    now = datetime.now(UTC)
    message_rows: list[dict[str, Any]] = []
    status_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    deliveries: list[Delivery] = []

    def work(tx: Transaction) -> None:
        endpoints = tx.fanout_endpoints(fixture.account_id)
        for _ in range(size):
            message = _message(fixture.account_id, now, service.pricing)
            events = _submitted_events(message, now, service.settings.public_base_url)
            message = dataclasses.replace(message, last_sequence=len(events))
            message_rows.append(records.message_values(message))
            status_rows.append(
                {
                    "message_id": message.id,
                    "status": MessageStatus.SUBMITTED.value,
                    "occurred_at": now,
                    "recorded_at": now,
                }
            )
            for event in events:
                event_rows.append({**dataclasses.asdict(event), "status": event.status.value})
                deliveries.extend(
                    records.new_delivery(event, endpoint, now)
                    for endpoint in endpoints
                    if endpoint.accepts(event.type, event.status)
                )
        tx.conn.execute(sa.insert(t.messages), message_rows)
        tx.conn.execute(sa.insert(t.status_history), status_rows)
        tx.conn.execute(sa.insert(t.events), event_rows)
        tx.insert_deliveries(deliveries)

    await service.store.write(work)
    return [row["id"] for row in message_rows]


async def queue_messages_only(fixture: Fixture, n_messages: int) -> list[str]:
    """Messages submitted while no endpoint wants ``submitted``: for status-report load."""
    return (await queue_submitted(fixture, n_messages, progress=False))[0]
