"""Operational events end to end: endpoint changes and delivery outcomes reach the account's
operational endpoints through the queue, signed, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from statushooks import config, receiver, retry, service, testing
from statushooks.deliveries import DeliveryState
from statushooks.dispatcher import Dispatcher
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.events import catalog, operational
from statushooks.storage.sql import Store

PHONE = "+14155552671"
OPS = "/ops"
HOOK = "/hook"
FAST = {"retry_schedule": "0s,200ms", "poll_interval": 0.05}


def tuned(settings: config.Settings, **changes: Any) -> config.Settings:
    return config.load_settings(**{**settings.model_dump(), **changes})


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    async with testing.WebhookSink() as running:
        yield running


@pytest.fixture
async def account_id(svc: service.Service) -> str:
    return (await svc.create_account("acme")).account.id


@contextlib.asynccontextmanager
async def dispatching(store: Store, settings: config.Settings) -> AsyncIterator[Dispatcher]:
    async with testing.running(Dispatcher(store, settings)) as dispatcher:
        yield dispatcher


async def ops_endpoint(
    svc: service.Service, account_id: str, sink: testing.WebhookSink
) -> Endpoint:
    return await svc.create_endpoint(
        account_id,
        service.EndpointSpec(url=sink.url(OPS), enabled_events=operational.NAMES),
    )


async def hook(svc: service.Service, account_id: str, sink: testing.WebhookSink) -> Endpoint:
    return await svc.create_endpoint(account_id, service.EndpointSpec(url=sink.url(HOOK)))


async def submit(svc: service.Service, account_id: str) -> None:
    await svc.submit_sms(account_id, to=PHONE, sender="Acme", text="hello")


async def received(
    sink: testing.WebhookSink, ops: Endpoint, name: str, count: int = 1
) -> list[dict[str, Any]]:
    """The operational events of type ``name`` the ops endpoint got (waiting for ``count``),
    each verified with its secret and validated against the catalog's schema."""

    def of_type() -> list[testing.RecordedRequest]:
        return [r for r in sink.requests_for(OPS) if orjson.loads(r.body)["type"] == name]

    async def arrived() -> bool:
        return len(of_type()) >= count

    await testing.wait_until(arrived, timeout=15.0)
    payloads = []
    for request in of_type():
        event = receiver.verify_and_parse(request.body, request.headers, ops.secrets[0].value)
        payload = orjson.loads(request.body)
        assert isinstance(event, receiver.OperationalEvent)
        assert (event.id, event.type) == (payload["id"], name)
        assert event.endpoint_id == payload["data"]["endpoint"]["id"]
        Draft202012Validator(catalog.get(name).schema).validate(payload)
        assert request.headers["webhook-id"] == payload["id"]
        payloads.append(payload)
    return payloads


async def test_endpoint_changes_reach_the_ops_endpoint(svc, store, settings, sink, account_id):
    """endpoint.created/updated/disabled/deleted go to the ops endpoint, not to the endpoint
    they are about, and not to an endpoint that does not name them."""
    ops = await ops_endpoint(svc, account_id, sink)
    ep = await hook(svc, account_id, sink)
    await svc.update_endpoint(account_id, ep.id, {"description": "CRM"})
    await svc.update_endpoint(account_id, ep.id, {"state": EndpointState.DISABLED})
    await svc.update_endpoint(account_id, ops.id, {"description": "ops"})  # about itself
    await svc.delete_endpoint(account_id, ep.id)
    async with dispatching(store, tuned(settings, **FAST)):
        [created] = await received(sink, ops, operational.ENDPOINT_CREATED)
        updates = await received(sink, ops, operational.ENDPOINT_UPDATED, 2)
        [disabled] = await received(sink, ops, operational.ENDPOINT_DISABLED)
        [deleted] = await received(sink, ops, operational.ENDPOINT_DELETED)
    assert created["data"]["endpoint"]["id"] == ep.id
    assert created["data"]["endpoint"]["url"] == sink.url(HOOK)
    assert "secrets" not in created["data"]["endpoint"]
    assert {u["data"]["endpoint"]["id"] for u in updates} == {ep.id}  # never about ops itself
    assert disabled["data"]["reason"] == "disabled by user"
    assert deleted["data"]["endpoint"]["id"] == ep.id
    assert sink.requests_for(HOOK) == []  # the endpoint that names no ops type gets none


async def test_failing_recovered_disabled_exhausted(svc, store, settings, sink, account_id):
    """A first failure after success is endpoint.failing (with the answer), the next success
    endpoint.recovered; an exhausted delivery is delivery.exhausted; 410 is endpoint.disabled."""
    ops = await ops_endpoint(svc, account_id, sink)
    ep = await hook(svc, account_id, sink)
    sink.set_mode(HOOK, testing.Mode(status=503))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        [failing] = await received(sink, ops, operational.ENDPOINT_FAILING)
        [exhausted] = await received(sink, ops, operational.DELIVERY_EXHAUSTED)
        sink.set_mode(HOOK, testing.Mode(status=200))
        await submit(svc, account_id)
        [recovered] = await received(sink, ops, operational.ENDPOINT_RECOVERED)
        sink.set_mode(HOOK, testing.Mode(status=410))
        await submit(svc, account_id)
        [disabled] = await received(sink, ops, operational.ENDPOINT_DISABLED)
    assert failing["data"]["endpoint"]["id"] == ep.id
    assert failing["data"]["last_attempt"]["response_status"] == 503
    assert failing["data"]["endpoint"]["failing_since"] == failing["data"]["failing_since"]
    delivery = exhausted["data"]["delivery"]
    assert (delivery["attempts"], delivery["event_type"]) == (2, "com.interact.messages.sms.status")
    assert delivery["last_attempt"]["response_status"] == 503
    assert recovered["data"]["endpoint"]["failing_since"] is None
    assert disabled["data"]["reason"].startswith("the endpoint answered 410 Gone")
    assert disabled["data"]["endpoint"]["status"] == "disabled"


async def test_a_dead_ops_endpoint_does_not_feed_itself(svc, store, settings, sink, account_id):
    """An ops endpoint that fails gets no events about itself, and the exhaustion of an
    operational delivery emits no delivery.exhausted: two dead ops endpoints go quiet."""
    sink.set_mode(OPS, testing.Mode(status=500))
    sink.set_mode("/ops2", testing.Mode(status=500))
    ops = await ops_endpoint(svc, account_id, sink)
    other = await svc.create_endpoint(
        account_id, service.EndpointSpec(url=sink.url("/ops2"), enabled_events=operational.NAMES)
    )
    async with dispatching(store, tuned(settings, **FAST)) as dispatcher:

        async def settled() -> bool:
            page = await store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
            done = (DeliveryState.SUCCEEDED, DeliveryState.FAILED)
            return bool(page.data) and all(d.state in done for d in page.data)

        await testing.wait_until(settled, timeout=15.0)
        attempted = dispatcher.stats.attempted
    page = await store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
    types = sorted((d.endpoint_id == ops.id, d.event_type) for d in page.data)
    # ops got other's creation; each then failed once: endpoint.failing about each goes to
    # the other; those fail too (no further failing: the clocks already run) and exhaust
    # without a delivery.exhausted.
    assert types == [
        (False, operational.ENDPOINT_FAILING),
        (True, operational.ENDPOINT_CREATED),
        (True, operational.ENDPOINT_FAILING),
    ]
    assert all(d.state is DeliveryState.FAILED for d in page.data)
    assert attempted == 2 * len(page.data)
    assert other.id != ops.id


async def test_receiver_disable_emits_endpoint_disabled(svc, store, settings, sink, account_id):
    """A receiver's webhook-delivery: disable disables its endpoint and emits
    endpoint.disabled with that reason."""
    ops = await ops_endpoint(svc, account_id, sink)
    ep = await hook(svc, account_id, sink)
    sink.set_mode(HOOK, testing.Mode(status=200, headers={"webhook-delivery": "disable"}))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        [disabled] = await received(sink, ops, operational.ENDPOINT_DISABLED)
    assert disabled["data"]["endpoint"]["id"] == ep.id
    assert disabled["data"]["reason"].startswith(retry.RECEIVER_DISABLED_REASON)
    assert (await svc.get_endpoint(account_id, ep.id)).state is EndpointState.DISABLED
