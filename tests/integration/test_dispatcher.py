"""The dispatcher against real loopback receivers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from statushooks import config, service, signing, testing
from statushooks.deliveries import Attempt, Delivery, DeliveryState
from statushooks.dispatcher import Dispatcher
from statushooks.endpoints import Endpoint
from statushooks.events import interact, ycloud
from statushooks.messages import MessageStatus
from statushooks.storage.sql import Store

PHONE = "+14155552671"
INTERACT = interact.NAME
YCLOUD_SMS = ycloud.SMS


def tuned(settings: config.Settings, **changes: Any) -> config.Settings:
    """The test settings with some values changed (validated again)."""
    return config.load_settings(**{**settings.model_dump(), **changes})


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    async with testing.WebhookSink() as receiver:
        yield receiver


@pytest.fixture
async def account_id(svc: service.Service) -> str:
    return (await svc.create_account("acme")).account.id


async def endpoint(svc: service.Service, account_id: str, url: str, **spec: Any) -> Endpoint:
    return await svc.create_endpoint(account_id, service.EndpointSpec(url=url, **spec))


async def submit(svc: service.Service, account_id: str, text: str = "hello") -> str:
    message = await svc.submit_sms(account_id, to=PHONE, sender="Acme", text=text)
    return message.id


async def deliveries(store: Store, account_id: str) -> list[Delivery]:
    async with store.read() as tx:
        return (await tx.list_deliveries(account_id, limit=250)).data


async def attempts(store: Store, delivery_id: str) -> list[Attempt]:
    async with store.read() as tx:
        page = await tx.list_attempts(delivery_id, limit=250)
    return sorted(page.data, key=lambda attempt: attempt.number)


async def all_done(store: Store, account_id: str, count: int | None = None) -> bool:
    found = await deliveries(store, account_id)
    finished = all(d.state in (DeliveryState.SUCCEEDED, DeliveryState.FAILED) for d in found)
    return finished and (count is None or len(found) == count)


async def wait_done(store: Store, account_id: str, count: int | None = None, timeout=10.0):
    await testing.wait_until(lambda: all_done(store, account_id, count), timeout=timeout)
    return await deliveries(store, account_id)


@contextlib.asynccontextmanager
async def dispatching(store: Store, settings: config.Settings) -> AsyncIterator[Dispatcher]:
    async with testing.running(Dispatcher(store, settings)) as dispatcher:
        yield dispatcher


# -- the happy path ------------------------------------------------------------------------


async def test_happy_path(svc, store, settings, sink, account_id):
    """A submitted SMS reaches its endpoint once, signed, and is recorded as succeeded."""
    ep = await endpoint(svc, account_id, sink.url("/hook"))
    message_id = await submit(svc, account_id)
    async with dispatching(store, settings):
        [request] = await sink.wait_for(1)
        [done] = await wait_done(store, account_id, 1)
    headers = request.headers
    assert signing.verify(
        msg_id=headers["webhook-id"],
        timestamp=int(headers["webhook-timestamp"]),
        body=request.body,
        signature_header=headers["webhook-signature"],
        secrets=[ep.secrets[0].value],
    )
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("statushooks/")
    assert headers["webhook-id"] == done.event_id
    assert orjson.loads(request.body)["data"]["message_body"] == "hello"
    assert done.message_id == message_id
    assert done.state is DeliveryState.SUCCEEDED and done.attempts == 1
    [attempt] = await attempts(store, done.id)
    assert attempt.response_status == 200 and attempt.error_kind is None
    assert attempt.response_body == "ok"
    assert attempt.request_headers["webhook-id"] == done.event_id


async def test_ycloud_events_carry_dialect_headers(svc, store, settings, sink, account_id):
    """A YCloud event also carries YCloud-Signature and X-Webhook-Endpoint-ID."""
    ep = await endpoint(svc, account_id, sink.url("/y"), enabled_events=(YCLOUD_SMS,))
    message_id = await submit(svc, account_id)
    await svc.report_status(account_id, message_id, status=MessageStatus.DELIVERED)
    async with dispatching(store, settings):
        [request] = await sink.wait_for(1)
    assert request.headers["x-webhook-endpoint-id"] == ep.id
    assert signing.verify_ycloud(
        header=request.headers["ycloud-signature"],
        body=request.body,
        secrets=[ep.secrets[0].value],
    )
    assert "webhook-signature" in request.headers


async def test_fan_out_follows_subscriptions_and_filters(svc, store, settings, sink, account_id):
    """Three endpoints with different subscriptions and status filters get what they asked for."""
    await endpoint(svc, account_id, sink.url("/all"))
    await endpoint(svc, account_id, sink.url("/interact"), enabled_events=(INTERACT,))
    await endpoint(
        svc,
        account_id,
        sink.url("/delivered"),
        enabled_events=(YCLOUD_SMS,),
        statuses=(MessageStatus.DELIVERED,),
    )
    message_id = await submit(svc, account_id)
    await svc.report_status(account_id, message_id, status=MessageStatus.DELIVERED)
    async with dispatching(store, settings):
        await wait_done(store, account_id, 3 + 2 + 1)
    assert len(sink.requests_for("/all")) == 3  # interact submitted + delivered, ycloud delivered
    assert len(sink.requests_for("/interact")) == 2
    [only] = sink.requests_for("/delivered")
    assert orjson.loads(only.body)["type"] == YCLOUD_SMS


async def test_tenant_isolation(svc, store, settings, sink, account_id):
    """Another account's endpoint never receives this account's events."""
    other = (await svc.create_account("other")).account.id
    await endpoint(svc, account_id, sink.url("/mine"))
    await endpoint(svc, other, sink.url("/theirs"))
    await submit(svc, account_id)
    async with dispatching(store, settings):
        await wait_done(store, account_id, 1)
        await asyncio.sleep(0.2)
    assert len(sink.requests_for("/mine")) == 1
    assert sink.requests_for("/theirs") == []
    assert await deliveries(store, other) == []
