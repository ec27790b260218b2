"""The dispatcher against real loopback receivers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from statushooks import config, delivery, exceptions, http, ids, retry, service, signing, testing
from statushooks.api import schemas
from statushooks.api.routes import health
from statushooks.deliveries import Attempt, Delivery, DeliveryState
from statushooks.dispatcher import Dispatcher
from statushooks.endpoints import Endpoint, EndpointSecret, EndpointState, new_secret
from statushooks.events import interact, ycloud
from statushooks.messages import MessageStatus
from statushooks.storage import queue, records, stats
from statushooks.storage import tables as t
from statushooks.storage.postgres import LISTEN_APPLICATION_NAME
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


async def submit_from_another_process(
    svc: service.Service, settings: config.Settings, account_id: str, database_url: str
) -> None:
    """Submit a message through a store of its own, as another process would."""
    other = await Store.open(database_url, upgrade=False)
    try:
        other_svc = service.Service(store=other, settings=settings, pricing=svc.pricing)
        await submit(other_svc, account_id)
    finally:
        await other.close()


async def deliveries(store: Store, account_id: str) -> list[Delivery]:
    page = await store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
    return page.data


async def attempts(store: Store, delivery_id: str) -> list[Attempt]:
    page = await store.read(lambda tx: tx.list_attempts(delivery_id, limit=250))
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


# -- retries and failures ------------------------------------------------------------------

FAST = {"retry_schedule": "0s,300ms,300ms", "poll_interval": 0.05}
ONE_SHOT = {"retry_schedule": "0s", "delivery_timeout": 0.5, "poll_interval": 0.05}


async def single_delivery(store: Store, account_id: str, timeout: float = 10.0) -> Delivery:
    [done] = await wait_done(store, account_id, 1, timeout=timeout)
    return done


async def test_retries_follow_the_schedule(svc, store, settings, sink, account_id):
    """Two failures then a success: three attempts, each at least the scheduled delay apart."""
    sink.set_mode("/flaky", testing.Mode(fail_times=2))
    await endpoint(svc, account_id, sink.url("/flaky"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
    first, second, third = sink.requests_for("/flaky")
    for before, after in ((first, second), (second, third)):
        assert 0.3 <= after.received_at - before.received_at < 1.5
    assert first.webhook_id == second.webhook_id == third.webhook_id == done.event_id
    assert first.headers["webhook-timestamp"] <= third.headers["webhook-timestamp"]
    assert done.state is DeliveryState.SUCCEEDED and done.attempts == 3
    records = await attempts(store, done.id)
    assert [a.number for a in records] == [1, 2, 3]
    assert [a.error_kind for a in records] == ["status", "status", None]


async def test_retries_go_out_on_time_between_polls(svc, store, settings, sink, account_id):
    """A retry is attempted when it is due, not at the next poll (60 s here): the dispatcher
    sleeps no longer than until the earliest retry it scheduled."""
    sink.set_mode("/flaky", testing.Mode(fail_times=2))
    await endpoint(svc, account_id, sink.url("/flaky"))
    await submit(svc, account_id)
    async with dispatching(
        store, tuned(settings, retry_schedule="0s,300ms,300ms", poll_interval=60.0)
    ):
        done = await single_delivery(store, account_id)
    first, second, third = sink.requests_for("/flaky")
    for before, after in ((first, second), (second, third)):
        assert 0.3 <= after.received_at - before.received_at < 1.0
    assert done.state is DeliveryState.SUCCEEDED


async def test_exhausted_delivery_is_the_dead_letter(svc, store, settings, sink, account_id):
    """Failing every scheduled attempt leaves the delivery failed, with its last error."""
    sink.set_mode("/down", testing.Mode(status=503))
    await endpoint(svc, account_id, sink.url("/down"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
    assert done.state is DeliveryState.FAILED and done.attempts == 3
    assert done.last_response_status == 503 and done.completed_at is not None
    assert len(sink.requests_for("/down")) == 3


async def test_gone_disables_the_endpoint(svc, store, settings, sink, account_id):
    """410 Gone fails the delivery and disables the endpoint with the reason recorded."""
    sink.set_mode("/gone", testing.Mode(status=410))
    ep = await endpoint(svc, account_id, sink.url("/gone"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
    assert done.state is DeliveryState.FAILED and done.attempts == 1
    gone = await svc.get_endpoint(account_id, ep.id)
    assert gone.state is EndpointState.DISABLED
    assert gone.disabled_reason is not None and "410" in gone.disabled_reason
    await submit(svc, account_id)
    assert len(await deliveries(store, account_id)) == 1  # no new deliveries to it


@pytest.mark.parametrize("status", [503, 200])
async def test_receiver_asks_to_disable(svc, store, settings, sink, account_id, status):
    """webhook-delivery: disable disables the endpoint with the reason recorded, on a failed
    answer (the delivery fails) or a 2xx (it stays delivered); no more deliveries go to it."""
    headers = {"Webhook-Delivery": "disable"}
    sink.set_mode("/off", testing.Mode(status=status, headers=headers))
    ep = await endpoint(svc, account_id, sink.url("/off"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
        expected = DeliveryState.SUCCEEDED if status == 200 else DeliveryState.FAILED
        assert done.state is expected and done.attempts == 1
        off = await svc.get_endpoint(account_id, ep.id)
        assert off.state is EndpointState.DISABLED
        assert off.disabled_reason is not None
        assert off.disabled_reason.startswith(retry.RECEIVER_DISABLED_REASON)
        await submit(svc, account_id)
        assert len(await deliveries(store, account_id)) == 1  # no new deliveries to it
    assert len(sink.requests_for("/off")) == 1


async def test_receiver_aborts_the_message(svc, store, settings, sink, account_id):
    """webhook-delivery: abort-message fails the delivery at once instead of retrying it; the
    endpoint stays active and later deliveries go out."""
    headers = {"webhook-delivery": "abort-message"}
    sink.set_mode("/abort", testing.Mode(fail_times=1, fail_status=500, headers=headers))
    ep = await endpoint(svc, account_id, sink.url("/abort"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
        assert done.state is DeliveryState.FAILED and done.attempts == 1
        assert done.last_error is not None and "abort-message" in done.last_error
        assert (await svc.get_endpoint(account_id, ep.id)).state is EndpointState.ACTIVE
        await submit(svc, account_id, "again")
        found = await wait_done(store, account_id, 2)
    assert sorted(d.state for d in found) == [DeliveryState.FAILED, DeliveryState.SUCCEEDED]
    assert len(sink.requests_for("/abort")) == 2


BURSTY = {
    "retry_schedule": "0s,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
    "poll_interval": 0.05,
    "suspend_after_failures": 3,
    "suspend_window": "30s",
    "suspend_pauses": "2s,4s",
}
#: Seconds for attempts already under way when a suspension was decided to land.
SETTLE = 0.3


async def suspended_endpoint(svc, account_id: str, endpoint_id: str, count: int) -> Endpoint:
    """The endpoint once it has been suspended ``count`` times in a row."""

    async def reached() -> bool:
        return (await svc.get_endpoint(account_id, endpoint_id)).suspensions >= count

    await testing.wait_until(reached, timeout=20.0)
    return await svc.get_endpoint(account_id, endpoint_id)


async def test_burst_of_failures_suspends_then_resumes(svc, store, settings, sink, account_id):
    """Attempts failing in a burst suspend the endpoint for a short pause: nothing is sent to
    it meanwhile though its retries are due, it resumes by itself, a second burst pauses it
    longer; the API and the metrics show it; a success ends the suspension and its counts."""
    sink.set_mode("/burst", testing.Mode(status=500))
    ep = await endpoint(svc, account_id, sink.url("/burst"), ordered=False)
    for number in range(4):
        await submit(svc, account_id, f"message {number}")
    async with dispatching(store, tuned(settings, **BURSTY)):
        first = await suspended_endpoint(svc, account_id, ep.id, 1)
        assert first.state is EndpointState.ACTIVE
        assert first.suspended_until is not None
        now = datetime.now(UTC)
        assert timedelta(0) < first.suspended_until - now <= timedelta(seconds=2)
        assert schemas.EndpointOut.of(first).suspended_until == first.suspended_until
        metrics = await store.read(lambda tx: stats.metrics(tx, now=datetime.now(UTC)))
        assert "statushooks_endpoints_suspended 1" in health.render_metrics(metrics)
        await asyncio.sleep(SETTLE)
        sent = len(sink.requests_for("/burst"))
        quiet = (first.suspended_until - datetime.now(UTC)).total_seconds() - 0.2
        assert quiet > 0.5
        await asyncio.sleep(quiet)
        assert len(sink.requests_for("/burst")) == sent  # suspended: nothing went out
        second = await suspended_endpoint(svc, account_id, ep.id, 2)
        assert len(sink.requests_for("/burst")) > sent  # it resumed by itself
        assert second.suspended_until is not None
        assert second.suspended_until - datetime.now(UTC) > timedelta(seconds=2.5)  # 4 s pause
        sink.set_mode("/burst", testing.Mode(status=200))
        await submit(svc, account_id, "after the outage")
        done = await wait_done(store, account_id, 5, timeout=30.0)
    assert DeliveryState.SUCCEEDED in {d.state for d in done}
    healthy = await svc.get_endpoint(account_id, ep.id)
    assert (healthy.failures, healthy.suspensions, healthy.suspended_until) == (0, 0, None)
    assert healthy.failing_since is None
    assert schemas.EndpointOut.of(healthy).suspended_until is None


async def test_resuming_by_hand_ends_a_suspension(svc, store, settings, sink, account_id):
    """Pausing and resuming an endpoint by hand clears its suspension and counts."""
    sink.set_mode("/burst", testing.Mode(status=500))
    ep = await endpoint(svc, account_id, sink.url("/burst"), ordered=False)
    for number in range(4):
        await submit(svc, account_id, f"message {number}")
    async with dispatching(store, tuned(settings, **{**BURSTY, "suspend_pauses": "1h"})):
        await suspended_endpoint(svc, account_id, ep.id, 1)
        await svc.update_endpoint(account_id, ep.id, {"state": EndpointState.PAUSED})
    resumed = await svc.update_endpoint(account_id, ep.id, {"state": EndpointState.ACTIVE})
    assert (resumed.failures, resumed.suspensions, resumed.suspended_until) == (0, 0, None)


async def test_retry_after_is_honoured(svc, store, settings, sink, account_id):
    """A 429 with Retry-After: 1 delays the next attempt by a second, not the schedule's 0.3 s."""
    sink.set_mode("/busy", testing.Mode(fail_times=1, fail_status=429, retry_after="1"))
    await endpoint(svc, account_id, sink.url("/busy"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        done = await single_delivery(store, account_id)
    first, second = sink.requests_for("/busy")
    assert 1.0 <= second.received_at - first.received_at < 2.5
    assert done.state is DeliveryState.SUCCEEDED


async def test_redirects_are_not_followed(svc, store, settings, sink, account_id):
    """A 302 is recorded as a failed answer; its Location is never requested."""
    sink.set_mode("/moved", testing.Mode(status=302, location=sink.url("/elsewhere")))
    await endpoint(svc, account_id, sink.url("/moved"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **ONE_SHOT)):
        done = await single_delivery(store, account_id)
    assert sink.requests_for("/elsewhere") == []
    [attempt] = await attempts(store, done.id)
    assert attempt.response_status == 302 and attempt.error_kind == "status"
    assert done.state is DeliveryState.FAILED


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(testing.Mode(delay=float("inf")), id="hanging"),
        pytest.param(testing.Mode(drip_interval=0.05), id="slow-drip"),
    ],
)
async def test_attempts_are_cut_at_the_total_deadline(svc, store, settings, sink, account_id, mode):
    """A hanging or slow-drip endpoint is cut at the deadline and recorded as a timeout."""
    sink.set_mode("/slow", mode)
    await endpoint(svc, account_id, sink.url("/slow"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **ONE_SHOT)):
        done = await single_delivery(store, account_id)
    [attempt] = await attempts(store, done.id)
    assert attempt.error_kind == "timeout" and attempt.response_status is None
    assert 450 <= attempt.duration_ms < 1500
    assert done.state is DeliveryState.FAILED


async def test_huge_response_body_is_capped(svc, store, settings, sink, account_id):
    """A 1 GiB response body is read up to 4 KiB, quickly, and the delivery succeeds."""
    sink.set_mode("/huge", testing.Mode(huge_body=True))
    await endpoint(svc, account_id, sink.url("/huge"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **ONE_SHOT)):
        done = await single_delivery(store, account_id)
    [attempt] = await attempts(store, done.id)
    assert done.state is DeliveryState.SUCCEEDED
    assert len(attempt.response_body) == 4096
    assert attempt.duration_ms < 400


async def test_a_nul_byte_in_an_answer_is_stored_and_holds_up_no_one(
    svc, store, settings, sink, account_id
):
    """A receiver answering 200 ``a\\x00b`` (which PostgreSQL text and jsonb cannot hold): its
    delivery succeeds with the NUL stored as U+FFFD, the same on both databases, and another
    tenant's deliveries answered at about the same moment (mostly written in the same batch)
    are recorded once, never sent again."""
    other = (await svc.create_account("other")).account.id
    sink.set_mode("/nul", testing.Mode(body=b"a\x00b", delay=0.2))
    sink.set_mode("/fine", testing.Mode(delay=0.2))
    await endpoint(svc, account_id, sink.url("/nul"))
    await endpoint(svc, other, sink.url("/fine"))
    await submit(svc, account_id)
    for number in range(3):
        await submit(svc, other, text=f"message {number}")
    async with dispatching(store, tuned(settings, **FAST)):
        [nul] = await wait_done(store, account_id, 1)
        fine = await wait_done(store, other, 3)
    assert nul.state is DeliveryState.SUCCEEDED and nul.attempts == 1
    [attempt] = await attempts(store, nul.id)
    assert attempt.response_status == 200 and attempt.response_body == "a\ufffdb"
    assert all(d.state is DeliveryState.SUCCEEDED and d.attempts == 1 for d in fine)
    assert len(sink.requests_for("/nul")) == 1
    sent = [request.webhook_id for request in sink.requests_for("/fine")]
    assert sorted(sent) == sorted(d.event_id for d in fine)


async def test_a_nul_answer_and_its_batch_mates_are_written_in_one_batch(
    svc, store, sink, account_id
):
    """The same by hand, to be sure of the batch: one claim, each attempt over real HTTP, and
    every result written in one ``complete``: all applied, none stale."""
    other = (await svc.create_account("other")).account.id
    sink.set_mode("/nul", testing.Mode(body=b"a\x00b"))
    await endpoint(svc, account_id, sink.url("/nul"))
    await endpoint(svc, other, sink.url("/fine"))
    await submit(svc, account_id)
    await submit(svc, other)
    await submit(svc, other, text="again")
    worker = queue.Queue(store, worker_id="by-hand", lease_seconds=30.0, auto_disable_after=3600)
    policy = retry.RetryPolicy(schedule=(0.0, 1.0))
    claims = await worker.claim(limit=10, now=datetime.now(UTC))
    assert len(claims) == 3
    async with http.HttpClient(timeout=2.0, allow_private=True) as client:
        results = [
            await delivery.attempt(client, c.delivery, c.endpoint, c.payload) for c in claims
        ]
    completions = [
        queue.Completion(
            delivery_id=claim.delivery.id,
            lease_id=claim.lease_id,
            endpoint_id=claim.endpoint.id,
            attempt=result.attempt,
            action=policy.decide(attempt=1, outcome=result.outcome, now=datetime.now(UTC)).action,
        )
        for claim, result in zip(claims, results, strict=True)
    ]
    report = await worker.complete(completions, now=datetime.now(UTC))
    assert report.applied == 3 and report.stale == ()
    for done in await deliveries(store, account_id) + await deliveries(store, other):
        assert done.state is DeliveryState.SUCCEEDED
        [attempt] = await attempts(store, done.id)
        assert attempt.response_body == ("a\ufffdb" if done.account_id == account_id else "ok")


async def test_an_answer_with_a_1_mb_header_fails_its_attempt(svc, store, settings, account_id):
    """A receiver answering 200 with a 1 MB header: the attempt fails as ``headers_too_large``
    as soon as the cap is passed, and is recorded (not a success)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nX-Bomb: " + b"a" * 1_000_000 + b"\r\n")
            writer.write(b"Content-Length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read()  # until the client hangs up
        writer.close()

    async with await asyncio.start_server(answer, "127.0.0.1", 0) as receiver:
        port = receiver.sockets[0].getsockname()[1]
        await endpoint(svc, account_id, f"http://127.0.0.1:{port}/hook")
        await submit(svc, account_id)
        async with dispatching(store, tuned(settings, **ONE_SHOT)):
            done = await single_delivery(store, account_id)
    [attempt] = await attempts(store, done.id)
    assert attempt.error_kind == "headers_too_large" and attempt.response_status is None
    assert attempt.error_message is not None and "16384 bytes" in attempt.error_message
    assert attempt.duration_ms < 400
    assert done.state is DeliveryState.FAILED and done.last_error == attempt.error_message


# -- ordering and fairness -----------------------------------------------------------------


def statuses_of(requests: list[testing.RecordedRequest]) -> list[tuple[str, int]]:
    return [(orjson.loads(r.body)["data"]["status"], r.status) for r in requests]


async def test_events_of_a_message_arrive_in_order(svc, store, settings, sink, account_id):
    """submitted → delivered → clicked arrive in order even when submitted first fails."""
    sink.set_mode("/ordered", testing.Mode(fail_times=1))
    await endpoint(svc, account_id, sink.url("/ordered"), enabled_events=(INTERACT,))
    message_id = await submit(svc, account_id)
    await svc.report_status(account_id, message_id, status=MessageStatus.DELIVERED)
    await svc.report_status(account_id, message_id, status=MessageStatus.CLICKED)
    async with dispatching(store, tuned(settings, **FAST)):
        await wait_done(store, account_id, 3)
    assert statuses_of(sink.requests_for("/ordered")) == [
        ("submitted", 500),
        ("submitted", 200),
        ("delivered", 200),
        ("clicked", 200),
    ]


async def test_slow_endpoint_cannot_starve_the_others(svc, store, settings, sink, account_id):
    """A hanging endpoint holds at most max_in_flight requests; another is served meanwhile."""
    sink.set_mode("/slow", testing.Mode(delay=float("inf")))
    await endpoint(svc, account_id, sink.url("/slow"), enabled_events=(INTERACT,), max_in_flight=2)
    await endpoint(svc, account_id, sink.url("/fast"), enabled_events=(INTERACT,))
    for number in range(8):
        await submit(svc, account_id, text=f"message {number}")
    slow = tuned(settings, delivery_timeout=3.0, dispatch_batch=4, shutdown_timeout=0.1)
    async with dispatching(store, slow):
        await sink.wait_for(8, path="/fast", timeout=2.5)
        assert len(sink.requests_for("/slow")) == 2


async def leased_count(store: Store, account_id: str) -> int:
    return sum(d.state is DeliveryState.LEASED for d in await deliveries(store, account_id))


async def test_leases_ahead_wait_for_a_free_request_slot(svc, store, settings, sink, account_id):
    """An endpoint's share of max_in_flight is sent, as much again is leased ahead and waits;
    each waiting one goes out when a request ends, never more than the cap open at once."""
    delay = 0.6
    sink.set_mode("/narrow", testing.Mode(delay=delay))
    await endpoint(svc, account_id, sink.url("/narrow"), max_in_flight=2)
    for number in range(6):
        await submit(svc, account_id, text=f"message {number}")
    async with dispatching(store, tuned(settings, **FAST)):
        await sink.wait_for(2, path="/narrow")
        await testing.wait_until(lambda: _equals(leased_count(store, account_id), 4))
        assert len(sink.requests_for("/narrow")) == 2
        await wait_done(store, account_id, 6)
    arrivals = sorted(request.received_at for request in sink.requests_for("/narrow"))
    assert len(arrivals) == 6
    # With two open at most, a request starts only after one of the two before it ended.
    assert all(arrivals[i + 2] - arrivals[i] >= delay for i in range(len(arrivals) - 2))


async def test_a_waiting_claim_whose_lease_runs_short_is_not_sent(
    svc, store, settings, sink, account_id
):
    """A claim leased ahead is not sent once its lease could end before its attempt would:
    once the lease expires the delivery is claimed again, and it is sent then."""
    sink.set_mode("/one", testing.Mode(delay=float("inf")))
    await endpoint(svc, account_id, sink.url("/one"), max_in_flight=1)
    for number in range(2):
        await submit(svc, account_id, text=f"message {number}")
    skew = timedelta(0)

    def clock() -> datetime:
        return datetime.now(UTC) + skew

    patient = tuned(settings, delivery_timeout=1.0, lease_seconds=60.0, retry_schedule="0s,1h")
    async with testing.running(Dispatcher(store, patient, clock=clock)) as dispatcher:
        [first] = await sink.wait_for(1, path="/one")
        # The other one waits behind it (the claim's commit may end after the first is sent).
        await testing.wait_until(lambda: _equals(leased_count(store, account_id), 2))
        skew = timedelta(seconds=58.5)  # its lease now ends before a 1 s attempt would
        await testing.wait_until(lambda: _equals(_attempted(dispatcher), 1))
        await testing.wait_until(lambda: _equals(leased_count(store, account_id), 1))
        assert len(sink.requests_for("/one")) == 1
        skew = timedelta(seconds=61)  # the lease has expired: the delivery is claimable again
        second = (await sink.wait_for(2, path="/one", timeout=5.0))[1]
    assert second.webhook_id != first.webhook_id
    assert dispatcher.stats.attempted == 2


async def test_waiting_claims_of_a_failed_exchange_are_not_sent(
    svc, store, settings, sink, account_id
):
    """An exchange whose transaction fails after handing its claims over took no leases: the
    claim already sent comes back stale, and the one waiting for a slot is dropped, not sent."""
    sink.set_mode("/one", testing.Mode(delay=0.3))
    await endpoint(svc, account_id, sink.url("/one"), max_in_flight=1)
    for number in range(3):
        await submit(svc, account_id, text=f"message {number}")
    dispatcher = Dispatcher(store, tuned(settings, **FAST))
    exchange = dispatcher.queue._exchange
    failed = False

    def exchange_then_fail(conn: sa.Connection, **kwargs: Any) -> Any:
        nonlocal failed
        report, claims = exchange(conn, **kwargs)  # hands the claims over
        if claims and not failed:
            failed = True
            raise exceptions.StorageError("database error: disk I/O error")  # rolled back
        return report, claims

    dispatcher.queue._exchange = exchange_then_fail  # type: ignore[method-assign]
    async with testing.running(dispatcher):
        await wait_done(store, account_id, 3)
    # The first claim leased two: one went out (stale, sent again later), one waited (dropped).
    assert failed and dispatcher.stats.stale == 1
    assert len(sink.requests_for("/one")) == 4


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _attempted(dispatcher: Dispatcher) -> int:
    return dispatcher.stats.attempted


async def test_rate_limit_spaces_requests(svc, store, settings, sink, account_id):
    """An endpoint limited to 10 requests/s gets 25 deliveries spread over more than a second.

    A burst of 10 then 15 more at 10/s take at least 1.5 s from the bucket's first claim; the
    assertion leaves 0.5 s for the first request to reach the sink on a loaded machine.
    """
    await endpoint(svc, account_id, sink.url("/limited"), rate_limit=10.0)
    for number in range(25):
        await submit(svc, account_id, text=f"message {number}")
    async with dispatching(store, tuned(settings, **FAST)):
        requests = await sink.wait_for(25, path="/limited", timeout=10.0)
    assert requests[-1].received_at - requests[0].received_at >= 1.0


async def test_paused_endpoint_keeps_its_deliveries(svc, store, settings, sink, account_id):
    """A paused endpoint is not dispatched to; resumed, it gets its queued deliveries."""
    ep = await endpoint(svc, account_id, sink.url("/paused"), state=EndpointState.PAUSED)
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        await asyncio.sleep(0.3)
        assert sink.requests_for("/paused") == []
        await svc.update_endpoint(account_id, ep.id, {"state": EndpointState.ACTIVE})
        await sink.wait_for(1, path="/paused")


# -- auto-disable --------------------------------------------------------------------------


async def test_endpoint_failing_too_long_is_disabled(svc, store, settings, sink, account_id):
    """Failing beyond the auto-disable span disables the endpoint; its delivery stays queued."""
    sink.set_mode("/broken", testing.Mode(status=500))
    ep = await endpoint(svc, account_id, sink.url("/broken"))
    await submit(svc, account_id)
    eager = tuned(settings, auto_disable_after="0s", auto_disable_min_span="0s", **FAST)
    async with dispatching(store, eager):

        async def disabled() -> bool:
            current = await svc.get_endpoint(account_id, ep.id)
            return current.state is EndpointState.DISABLED

        await testing.wait_until(disabled)
        await asyncio.sleep(0.5)
    current = await svc.get_endpoint(account_id, ep.id)
    assert current.disabled_reason is not None and "auto-disabled" in current.disabled_reason
    assert current.failing_since is not None
    [queued] = await deliveries(store, account_id)
    assert queued.state is DeliveryState.PENDING and queued.attempts == 1


async def test_success_resets_the_failure_clock(svc, store, settings, sink, account_id):
    """A failure starts the endpoint's failure clock and the next success clears it."""
    sink.set_mode("/recovers", testing.Mode(fail_times=1))
    ep = await endpoint(svc, account_id, sink.url("/recovers"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, **FAST)):
        await sink.wait_for(1, path="/recovers")

        async def clock_started() -> bool:
            return (await svc.get_endpoint(account_id, ep.id)).failing_since is not None

        await testing.wait_until(clock_started)
        await single_delivery(store, account_id)
    current = await svc.get_endpoint(account_id, ep.id)
    assert current.failing_since is None and current.state is EndpointState.ACTIVE


# -- shutdown ------------------------------------------------------------------------------


async def test_stop_finishes_in_flight_attempts(svc, store, settings, sink, account_id):
    """stop() lets an in-flight attempt finish within the shutdown timeout and records it."""
    sink.set_mode("/slowish", testing.Mode(delay=0.4))
    await endpoint(svc, account_id, sink.url("/slowish"))
    await submit(svc, account_id)
    async with dispatching(store, tuned(settings, shutdown_timeout=5.0)):
        await sink.wait_for(1, path="/slowish")
    [done] = await deliveries(store, account_id)
    assert done.state is DeliveryState.SUCCEEDED and done.lease_id is None


async def test_stop_releases_unfinished_leases(svc, store, settings, sink, account_id):
    """An attempt still running at the shutdown timeout is abandoned and its lease given back,
    and so is the lease of a claim still waiting for a request slot."""
    sink.set_mode("/hang", testing.Mode(delay=float("inf")))
    await endpoint(svc, account_id, sink.url("/hang"), max_in_flight=1)
    for number in range(2):
        await submit(svc, account_id, text=f"message {number}")
    async with dispatching(store, tuned(settings, shutdown_timeout=0.2)):
        await sink.wait_for(1, path="/hang")
        await testing.wait_until(lambda: _equals(leased_count(store, account_id), 2))
    assert len(sink.requests_for("/hang")) == 1
    for queued in await deliveries(store, account_id):
        assert queued.state is DeliveryState.PENDING and queued.attempts == 0
        assert queued.lease_id is None and queued.lease_expires_at is None


async def test_small_concurrency_keeps_flowing(svc, store, settings, sink, account_id):
    """With two slots and batches of two, every delivery still goes out (no spin, no stall)."""
    sink.set_mode("/narrow", testing.Mode(delay=0.02))
    await endpoint(svc, account_id, sink.url("/narrow"))
    for number in range(10):
        await submit(svc, account_id, text=f"message {number}")
    narrow = tuned(settings, dispatch_concurrency=2, dispatch_batch=2, **FAST)
    async with dispatching(store, narrow) as dispatcher:
        await wait_done(store, account_id, 10)
    assert dispatcher.stats.succeeded == 10 and len(sink.requests_for("/narrow")) == 10


# -- PostgreSQL wake-up --------------------------------------------------------------------


async def listen_backends(store: Store) -> list[int]:
    query = sa.text(
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = :name AND datname = current_database()"
    )
    rows = await store.read(
        lambda tx: tx.conn.execute(query, {"name": LISTEN_APPLICATION_NAME}).all()
    )
    return [row.pid for row in rows]


async def test_work_another_process_queues_wakes_the_dispatcher_at_once(
    svc, store, settings, sink, account_id, database_url
):
    """Deliveries queued through another connection, as by the API of ``statushooks serve``
    beside its dispatcher's process, are claimed at once, not at the next poll: NOTIFY on
    PostgreSQL, the database's data version on SQLite."""
    await endpoint(svc, account_id, sink.url("/hook"))
    async with dispatching(store, tuned(settings, poll_interval=60.0)):
        if not store.dialect.is_sqlite:
            await testing.wait_until(lambda: _count_is(listen_backends(store), 1), timeout=10)
        await asyncio.sleep(0.2)  # the first claims have found nothing
        await submit_from_another_process(svc, settings, account_id, database_url)
        await sink.wait_for(1, timeout=10.0)


async def test_work_another_process_queues_wakes_a_dispatcher_that_waits_on_an_attempt(
    svc, store, settings, sink, account_id, database_url
):
    """A dispatcher whose only open attempts hang still hears of new work at once (on SQLite
    it looks at the data version whenever it sleeps with nothing more due): the new message
    reaches the fast endpoint while the slow endpoint's attempts are still open."""
    sink.set_mode("/slow", testing.Mode(delay=float("inf")))
    slow = await endpoint(svc, account_id, sink.url("/slow"))
    await endpoint(svc, account_id, sink.url("/fast"))
    quiet = tuned(
        settings,
        poll_interval=60.0,
        delivery_timeout=20.0,
        lease_seconds=60.0,
        shutdown_timeout=0.1,
    )
    async with dispatching(store, quiet):
        if not store.dialect.is_sqlite:
            await testing.wait_until(lambda: _count_is(listen_backends(store), 1), timeout=10)
        await submit_from_another_process(svc, settings, account_id, database_url)
        await sink.wait_for(1, path="/fast", timeout=10.0)
        await sink.wait_for(1, path="/slow", timeout=10.0)
        await asyncio.sleep(0.2)  # the dispatcher is back asleep, its slow POST open
        await submit_from_another_process(svc, settings, account_id, database_url)
        await sink.wait_for(2, path="/fast", timeout=10.0)
        to_slow = [d for d in await deliveries(store, account_id) if d.endpoint_id == slow.id]
        assert [d.attempts for d in to_slow] == [0, 0]  # no attempt to it has ended yet


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_dropped_listen_connection_reconnects(
    svc, store, settings, sink, account_id, database_url
):
    """A LISTEN connection killed by the server comes back; work queued by another process
    then wakes the dispatcher at once, not at the next poll."""
    await endpoint(svc, account_id, sink.url("/hook"))
    async with dispatching(store, tuned(settings, poll_interval=60.0)):
        await testing.wait_until(lambda: _count_is(listen_backends(store), 1), timeout=10)
        [first] = await listen_backends(store)
        terminate = sa.text("SELECT pg_terminate_backend(:pid)")
        await store.write(lambda tx: tx.conn.execute(terminate, {"pid": first}))
        await testing.wait_until(lambda: _reconnected(listen_backends(store), first), timeout=10)
        await submit_from_another_process(svc, settings, account_id, database_url)
        await sink.wait_for(1, timeout=10.0)


async def _count_is(backends: Awaitable[list[int]], count: int) -> bool:
    return len(await backends) == count


async def _reconnected(backends: Awaitable[list[int]], old: int) -> bool:
    found = await backends
    return len(found) == 1 and found[0] != old


async def test_work_that_comes_during_a_claim_is_claimed_at_once(
    svc, store, settings, sink, account_id
):
    """A wake-up that arrives while a claim is running (the claim may have looked before the
    new work was committed) is not lost: the dispatcher claims again, not at the next poll."""
    await endpoint(svc, account_id, sink.url("/hook"))
    async with dispatching(store, tuned(settings, poll_interval=60.0)) as dispatcher:
        exchange = dispatcher.queue.exchange
        arrived = False

        async def exchange_then_work_comes(*args: Any, **kwargs: Any) -> Any:
            nonlocal arrived
            result = await exchange(*args, **kwargs)  # finds nothing due
            if not arrived:
                arrived = True
                await submit(svc, account_id)  # committed after the claim looked
                await testing.wait_until(lambda: _is_set(dispatcher._wake), timeout=5)
            return result

        dispatcher.queue.exchange = exchange_then_work_comes  # type: ignore[method-assign]
        dispatcher._work_came()  # a claim, which the work arrives during
        await sink.wait_for(1, timeout=10.0)


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def test_due_work_beyond_a_claims_window_is_claimed_without_waiting_for_a_poll(
    svc, store, settings, sink, account_id
):
    """1,000 endpoints with work not due for an hour come before (in the ring's order) 10
    whose work is due: the dispatcher claims again while its lap of the ring is not over, so
    the due work goes out at once, not at the next poll; then, with nothing due, it stops
    claiming."""
    at = datetime.now(UTC)
    created = [
        Endpoint(
            id=ids.new_id("ep", at.timestamp()),
            account_id=account_id,
            url=sink.url("/ring"),
            enabled_events=(INTERACT,),
            secrets=(EndpointSecret(value=new_secret()),),
            created_at=at,
            updated_at=at,
        )
        for _ in range(1_010)
    ]
    for start in range(0, len(created), 500):
        rows = [records.endpoint_values(e) for e in created[start : start + 500]]
        await store.write(lambda tx, rows=rows: tx.conn.execute(sa.insert(t.endpoints), rows))
    later = sorted(e.id for e in created)[:1_000]
    await submit(svc, account_id)  # one delivery to each
    d = t.deliveries
    scheduled = (
        sa.update(d)
        .where(d.c.endpoint_id.in_(later))
        .values(next_attempt_at=at + timedelta(hours=1))
    )
    await store.write(lambda tx: tx.conn.execute(scheduled))
    async with dispatching(store, tuned(settings, poll_interval=60.0)) as dispatcher:
        await sink.wait_for(10, path="/ring", timeout=10.0)
        await wait_succeeded(store, account_id, 10)
        await asyncio.sleep(0.3)
        rounds = dispatcher.stats.claim_rounds
        await asyncio.sleep(0.5)
        assert dispatcher.stats.claim_rounds == rounds  # asleep: no claims in a loop
    assert len(sink.requests_for("/ring")) == 10


async def wait_succeeded(store: Store, account_id: str, count: int) -> None:
    query = sa.text(
        "SELECT count(*) FROM deliveries WHERE account_id = :account AND state = 'succeeded'"
    )

    async def succeeded() -> bool:
        found = await store.read(
            lambda tx: tx.conn.execute(query, {"account": account_id}).scalar_one()
        )
        return bool(found == count)

    await testing.wait_until(succeeded, timeout=10.0)


async def test_a_worker_busy_with_slow_requests_keeps_its_heartbeat(
    svc, store, settings, sink, account_id, monkeypatch
):
    """A worker whose every slot waits on a slow endpoint claims nothing, yet renews its row
    every RENEW_INTERVAL: another worker does not take it for dead (which would release its
    lease and send the delivery twice)."""
    monkeypatch.setattr(queue, "RENEW_INTERVAL", timedelta(seconds=0.2))
    monkeypatch.setattr(queue, "WORKER_TTL", timedelta(seconds=1))
    await endpoint(svc, account_id, sink.url("/slow"))
    sink.set_mode("/slow", testing.Mode(delay=3.0))
    await submit(svc, account_id)
    busy = tuned(settings, dispatch_concurrency=1, delivery_timeout=5.0, lease_seconds=30.0)
    async with dispatching(store, busy) as worker:

        async def leased() -> bool:
            return [d.state for d in await deliveries(store, account_id)] == [DeliveryState.LEASED]

        await testing.wait_until(leased, timeout=5.0)
        await asyncio.sleep(2.0)  # twice WORKER_TTL with every slot busy
        other = queue.Queue(store, worker_id="other", lease_seconds=30.0, auto_disable_after=60.0)
        membership = await other.renew(now=datetime.now(UTC))
        assert membership.workers == 2
        [still] = await deliveries(store, account_id)
        assert still.state is DeliveryState.LEASED and still.lease_owner == worker.worker_id
        await other.leave()
