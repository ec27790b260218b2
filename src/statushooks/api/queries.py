"""The read side of the API: one read-only transaction per call, always scoped to an account.

Writes go through ``service.Service`` (the use cases own their transactions); reads that only
list or look up stored records come here, so the service stays about behaviour.
"""

from __future__ import annotations

from datetime import datetime

from statushooks.connectors.records import Connector
from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event
from statushooks.endpoints import Endpoint
from statushooks.messages import Message
from statushooks.storage import stats
from statushooks.storage.sql import Store
from statushooks.storage.transaction import MAX_PAGE_SIZE, Page, Transaction


async def list_endpoints(
    store: Store, account_id: str, *, limit: int, after: str | None
) -> Page[Endpoint]:
    return await store.read(lambda tx: tx.list_endpoints(account_id, limit=limit, after=after))


async def list_connectors(
    store: Store, account_id: str, *, limit: int, after: str | None
) -> Page[Connector]:
    return await store.read(lambda tx: tx.list_connectors(account_id, limit=limit, after=after))


async def list_messages(
    store: Store, account_id: str, *, limit: int, after: str | None
) -> Page[Message]:
    return await store.read(lambda tx: tx.list_messages(account_id, limit=limit, after=after))


async def list_events(
    store: Store,
    account_id: str,
    *,
    limit: int,
    after: str | None,
    event_type: str | None,
    message_id: str | None,
) -> Page[Event]:
    """The account's events; filtering by another account's message answers NotFoundError."""

    def work(tx: Transaction) -> Page[Event]:
        if message_id is not None:
            tx.get_message(account_id, message_id)
        return tx.list_events(
            account_id, limit=limit, after=after, event_type=event_type, message_id=message_id
        )

    return await store.read(work)


async def get_event(store: Store, account_id: str, event_id: str) -> tuple[Event, list[Delivery]]:
    """The event with (up to 250 of) its deliveries, newest first."""

    def work(tx: Transaction) -> tuple[Event, list[Delivery]]:
        event = tx.get_event(account_id, event_id)
        page = tx.list_deliveries(account_id, event_id=event_id, limit=MAX_PAGE_SIZE)
        return event, page.data

    return await store.read(work)


async def list_deliveries(
    store: Store,
    account_id: str,
    *,
    limit: int,
    after: str | None,
    endpoint_id: str | None,
    event_id: str | None,
    state: DeliveryState | None,
) -> Page[Delivery]:
    def work(tx: Transaction) -> Page[Delivery]:
        if endpoint_id is not None:
            tx.get_endpoint(account_id, endpoint_id)
        if event_id is not None:
            tx.get_event(account_id, event_id)
        return tx.list_deliveries(
            account_id,
            limit=limit,
            after=after,
            endpoint_id=endpoint_id,
            event_id=event_id,
            state=state,
        )

    return await store.read(work)


async def get_delivery(store: Store, account_id: str, delivery_id: str) -> Delivery:
    return await store.read(lambda tx: tx.get_delivery(account_id, delivery_id))


async def list_attempts(
    store: Store, account_id: str, delivery_id: str, *, limit: int, after: str | None
) -> Page[Attempt]:
    def work(tx: Transaction) -> Page[Attempt]:
        tx.get_delivery(account_id, delivery_id)
        return tx.list_attempts(delivery_id, limit=limit, after=after)

    return await store.read(work)


async def endpoint_stats(
    store: Store, account_id: str, endpoint_id: str, *, since: datetime
) -> stats.EndpointStats:
    def work(tx: Transaction) -> stats.EndpointStats:
        tx.get_endpoint(account_id, endpoint_id)
        return stats.endpoint_stats(tx, endpoint_id, since=since)

    return await store.read(work)


async def metrics(store: Store, *, now: datetime) -> stats.Metrics:
    return await store.read(lambda tx: stats.metrics(tx, now=now))
