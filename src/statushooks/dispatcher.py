"""The dispatcher: claim due deliveries, attempt them, record the results — shaped like
procrastinate's worker.

::

    claim loop ──claims──▶ attempt tasks (≤ dispatch_concurrency) ──results──▶ flush loop
        ▲                                                                     │
        └──── wake: new work (in-process event / PostgreSQL NOTIFY), a poll ◀─┘
              tick, free slots, written results (ordered successors, room)

* **Claims** are batched (``dispatch_batch``) and leased (see ``storage.queue``); HTTP never
  runs inside a transaction.
* **Results** are buffered and written many per transaction by one flush loop (group commit):
  under load a transaction carries hundreds of attempts, when idle each is written at once.
* **Wake-up without busy polling**: ``Store.new_work`` (set when this process queued
  deliveries), ``LISTEN statushooks_deliveries`` on PostgreSQL (other processes; reconnected
  within ``LISTEN_CHECK_INTERVAL`` if it drops), and a slow poll (``poll_interval``) for
  retries that become due and as the fallback.
* **Decisions** come from ``retry.RetryPolicy``: succeed, retry at T (``Retry-After``
  honoured), exhaust (the dead letter), or disable the endpoint (410 Gone).
* **Fairness**: the claim honours each endpoint's ``max_in_flight`` across all workers, and an
  in-process token bucket honours its ``rate_limit`` (requests per second, per process).
* **Shutdown** (``stop()``, SIGTERM in the worker): stop claiming, let in-flight attempts finish
  within ``shutdown_timeout``, write their results, give the rest's leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statushooks import delivery, exceptions, ids, retry
from statushooks import http as httpclient
from statushooks.config import Settings
from statushooks.deliveries import Attempt
from statushooks.storage import queue, sql
from statushooks.storage.sql import Store

logger = logging.getLogger(__name__)

CLAIM_THRESHOLD_FRACTION = 4  # claim again once 1/4 of a batch worth of slots is free
FLUSH_ATTEMPTS = 5  # tries to write one batch of results before leaving it to lease expiry
FLUSH_RETRY_DELAY = 0.5  # seconds between those tries
LISTEN_CONNECT_TIMEOUT = 10.0  # seconds to open the PostgreSQL LISTEN connection
LISTEN_CLOSE_TIMEOUT = 2.0  # seconds to close it
LISTEN_CHECK_INTERVAL = 1.0  # seconds between checks that it is still connected
LISTEN_RETRY_MAX = 30.0  # seconds between reconnection tries, at most (doubling from 1 s)
LISTEN_APPLICATION_NAME = "statushooks-listen"  # its application_name in pg_stat_activity
WORKER_ID_LENGTH = 100  # characters of ``deliveries.lease_owner``
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    """``host:pid:random``: unique per dispatcher, readable in ``deliveries.lease_owner``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[-WORKER_ID_LENGTH:]


@dataclass(kw_only=True)
class DispatcherStats:
    """Counters of one dispatcher since it started."""

    #: Claim transactions, and deliveries they leased.
    claim_rounds: int = 0
    claimed: int = 0
    #: Result-writing transactions.
    write_rounds: int = 0
    attempted: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    #: Results not written because the lease had been lost meanwhile.
    stale: int = 0
    released: int = 0


class TokenBucket:
    """A per-endpoint rate limit: ``rate`` requests per second, bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = now

    def available(self, now: float) -> int:
        """Whole requests that may be sent at ``now`` (monotonic seconds)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return int(self.tokens)

    def take(self, count: int) -> None:
        self.tokens -= count


class Dispatcher:
    """Delivers queued webhooks until ``stop()``; any number may run against one database."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        worker_id: str | None = None,
        http: httpclient.Client | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.queue = queue.Queue(
            store,
            worker_id=self.worker_id,
            lease_seconds=settings.lease_seconds,
            auto_disable_after=max(
                settings.auto_disable_after_seconds, settings.auto_disable_min_span_seconds
            ),
        )
        self.policy = retry.RetryPolicy.from_settings(settings)
        self.stats = DispatcherStats()
        self._given_http = http
        self._client: httpclient.Client | None = http
        self._clock = clock
        self._concurrency = settings.dispatch_concurrency
        self._claim_threshold = max(
            1, min(settings.dispatch_batch, self._concurrency) // CLAIM_THRESHOLD_FRACTION
        )
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._results: list[queue.Completion] = []
        #: Per endpoint, finished attempts whose results are not written yet (their leases are
        #: still held): they hold no request open, so the claim does not count them against
        #: ``max_in_flight``. A batch leaves it before its transaction commits (a claim that
        #: sees the leases still held may undercount, never overcount; see ``Queue.complete``).
        self._finished: dict[str, int] = {}
        self._results_ready = asyncio.Event()
        self._closing = False
        self._waiting_for_slots = False
        self._written_since_claim = 0
        self._finished_since_claim = 0
        self._running: dict[asyncio.Task[None], queue.Claim] = {}
        #: Leases held without a result yet: given back on shutdown.
        self._open_leases: dict[str, str] = {}
        self._buckets: dict[str, TokenBucket] = {}
        #: The PostgreSQL LISTEN connection (asyncpg), None on SQLite or while disconnected.
        self._listener: Any = None

    def stop(self) -> None:
        """Stop claiming and shut down gracefully; ``run()`` returns when done."""
        self._stop_event.set()
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until ``stop()``; cancelling it shuts down gracefully, then re-raises."""
        self._stop_event.clear()
        task = asyncio.create_task(self._run(), name="dispatcher")
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop()
            await task
            raise

    # -- main loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        owned = self._given_http is None
        client = self._given_http or httpclient.HttpClient.from_settings(self.settings)
        self._client = client
        self._listener = await self._listen()
        helpers = [asyncio.create_task(self._watch_new_work(), name="watch-new-work")]
        if not self.store.is_sqlite:
            helpers.append(asyncio.create_task(self._keep_listening(), name="keep-listening"))
        flusher = asyncio.create_task(self._flush_loop(), name="flush-results")
        logger.info("dispatcher %s started", self.worker_id)
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(flusher)
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await _close_listener(self._listener)
            self._listener = None
            if owned and isinstance(client, httpclient.HttpClient):
                await client.close()
            logger.info("dispatcher %s stopped", self.worker_id)

    async def _claim_loop(self) -> None:
        while not self._stop_event.is_set():
            free = self._concurrency - len(self._running)
            self._wake.clear()
            if free < self._claim_threshold and self._running:
                # Finished attempts wake the loop once enough slots are free.
                self._waiting_for_slots = True
                await self._sleep_until_woken()
                self._waiting_for_slots = False
                continue
            limit = min(self.settings.dispatch_batch, free)
            self._written_since_claim = 0
            self._finished_since_claim = 0
            try:
                claims = await self._claim(limit)
            except exceptions.StorageError:
                logger.exception("claiming deliveries failed; trying again after a poll interval")
                claims = []
            for claim in claims:
                self._start(claim)
            if len(claims) < limit:
                await self._sleep_until_woken()

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.poll_interval):
                await self._wake.wait()

    async def _claim(self, limit: int) -> list[queue.Claim]:
        claims = await self.queue.claim(
            limit=limit, now=self._clock(), quota=self._quota, finished=self._finished
        )
        for claim in claims:
            bucket = self._buckets.get(claim.endpoint.id)
            if bucket is not None and claim.endpoint.rate_limit is not None:
                bucket.take(1)
        self.stats.claim_rounds += 1
        self.stats.claimed += len(claims)
        return claims

    def _quota(self, endpoint_id: str, rate_limit: float | None) -> int:
        """How many requests the endpoint's rate limit allows now (``queue.Quota``)."""
        if rate_limit is None:
            self._buckets.pop(endpoint_id, None)
            return self._concurrency
        now = time.monotonic()
        bucket = self._buckets.get(endpoint_id)
        if bucket is None or bucket.rate != rate_limit:
            bucket = self._buckets[endpoint_id] = TokenBucket(rate_limit, now)
        return bucket.available(now)

    async def _watch_new_work(self) -> None:
        while True:
            await self.store.new_work.wait()
            self.store.new_work.clear()
            self._wake.set()

    # -- attempts --------------------------------------------------------------------------

    def _start(self, claim: queue.Claim) -> None:
        self._open_leases[claim.delivery.id] = claim.lease_id
        task = asyncio.create_task(self._attempt(claim), name=f"attempt-{claim.delivery.id}")
        self._running[task] = claim
        task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("attempt task failed", exc_info=task.exception())
        # Otherwise the written results wake the loop: that is when leases (and so the
        # endpoints' in-flight room) are given back.
        if (
            self._waiting_for_slots
            and self._concurrency - len(self._running) >= self._claim_threshold
        ):
            self._wake.set()

    async def _attempt(self, claim: queue.Claim) -> None:
        assert self._client is not None
        try:
            result = await delivery.attempt(
                self._client, claim.delivery, claim.endpoint, claim.payload, clock=self._clock
            )
        except Exception as exc:  # a bug must not leave the delivery leased until expiry
            logger.exception("attempt of %s failed unexpectedly", claim.delivery.id)
            result = _internal_error(claim, exc, self._clock())
        decision = self.policy.decide(
            attempt=result.attempt.number, outcome=result.outcome, now=self._clock()
        )
        self._results.append(
            queue.Completion(
                delivery_id=claim.delivery.id,
                lease_id=claim.lease_id,
                endpoint_id=claim.endpoint.id,
                attempt=result.attempt,
                action=decision.action,
                retry_at=decision.retry_at,
            )
        )
        endpoint_id = claim.endpoint.id
        self._finished[endpoint_id] = self._finished.get(endpoint_id, 0) + 1
        self._open_leases.pop(claim.delivery.id, None)
        self._results_ready.set()
        self.stats.attempted += 1
        # A finished attempt frees its endpoint's room at once (see ``_finished``).
        self._finished_since_claim += 1
        if self._worth_claiming():
            self._wake.set()

    # -- results ---------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            while self._results:
                batch, self._results = self._results, []
                await self._write(batch)
                self._written_since_claim += len(batch)
                if self._worth_claiming():
                    self._wake.set()
            if self._closing:
                return

    def _worth_claiming(self) -> bool:
        """Whether finished attempts freed enough room for a claim to be worth its transaction.

        Claim once half of the outstanding attempts came back (or a claim threshold's worth):
        claims stay batched under load, and an idle dispatcher claims at once (ordered
        successors, freed in-flight room). Otherwise the poll tick claims.
        """
        written = self._written_since_claim
        finished = self._finished_since_claim
        outstanding = max(written, finished) + len(self._running)
        return max(written, finished) >= min(self._claim_threshold, max(1, outstanding // 2))

    async def _write(self, batch: list[queue.Completion]) -> None:
        credited = [batch]

        def uncredit() -> None:
            # Once: a retried write after a failed commit keeps counting them as in flight.
            if credited:
                for completion in credited.pop():
                    left = self._finished.get(completion.endpoint_id, 0) - 1
                    if left > 0:
                        self._finished[completion.endpoint_id] = left
                    else:
                        self._finished.pop(completion.endpoint_id, None)

        try:
            await self._write_batch(batch, uncredit)
        finally:
            uncredit()

    async def _write_batch(
        self, batch: list[queue.Completion], before_commit: Callable[[], None]
    ) -> None:
        for attempt_number in range(1, FLUSH_ATTEMPTS + 1):
            try:
                report = await self.queue.complete(
                    batch, now=self._clock(), before_commit=before_commit
                )
            except exceptions.StorageError:
                logger.exception("writing %d results failed (try %d)", len(batch), attempt_number)
                await asyncio.sleep(FLUSH_RETRY_DELAY)
                continue
            self.stats.write_rounds += 1
            self._count(batch, report)
            return
        logger.error("dropped %d results: their leases will expire and be retried", len(batch))

    def _count(self, batch: list[queue.Completion], report: queue.CompletionReport) -> None:
        stale = set(report.stale)
        for completion in batch:
            if completion.delivery_id in stale:
                continue
            if completion.succeeded:
                self.stats.succeeded += 1
            elif completion.action == "retry":
                self.stats.retried += 1
            else:
                self.stats.failed += 1
        self.stats.stale += len(stale)
        if stale:
            logger.warning("%d results were stale (lease lost): not written", len(stale))
        for endpoint_id in report.disabled:
            logger.warning("endpoint %s disabled", endpoint_id)

    # -- shutdown --------------------------------------------------------------------------

    async def _shutdown(self, flusher: asyncio.Task[None]) -> None:
        running = list(self._running)
        if running:
            _, pending = await asyncio.wait(running, timeout=self.settings.shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._closing = True
        self._results_ready.set()
        await asyncio.gather(flusher, return_exceptions=True)
        await self._release_open_leases()

    async def _release_open_leases(self) -> None:
        leases, self._open_leases = list(self._open_leases.items()), {}
        if not leases:
            return
        try:
            self.stats.released += await self.queue.release(leases, now=self._clock())
        except exceptions.StorageError:
            logger.exception("giving back %d leases failed: they will expire", len(leases))

    # -- PostgreSQL LISTEN -----------------------------------------------------------------

    async def _listen(self) -> Any:
        """A raw asyncpg connection listening on the notify channel, or None (SQLite, error)."""
        if self.store.is_sqlite:
            return None
        import asyncpg  # type: ignore[import-untyped]

        dsn = self.store.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        try:
            async with asyncio.timeout(LISTEN_CONNECT_TIMEOUT):
                connection = await asyncpg.connect(
                    dsn, server_settings={"application_name": LISTEN_APPLICATION_NAME}
                )
                await connection.add_listener(sql.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            logger.warning("LISTEN %s failed: polling only", sql.NOTIFY_CHANNEL, exc_info=True)
            return None
        return connection

    async def _keep_listening(self) -> None:
        """Reconnect the LISTEN connection when it drops; the poll covers the gap meanwhile."""
        delay = LISTEN_CHECK_INTERVAL
        while True:
            await asyncio.sleep(delay)
            if self._listener is not None and not self._listener.is_closed():
                continue
            self._listener = await self._listen()
            if self._listener is None:  # the database is away: retry less often, up to a limit
                delay = min(delay * 2, LISTEN_RETRY_MAX)
                continue
            delay = LISTEN_CHECK_INTERVAL
            logger.info("LISTEN %s connected again", sql.NOTIFY_CHANNEL)
            self._wake.set()  # a notification may have been missed while disconnected

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()


async def _close_listener(connection: Any) -> None:
    if connection is None:
        return
    try:
        async with asyncio.timeout(LISTEN_CLOSE_TIMEOUT):
            await connection.close()
    except Exception:  # closing a broken connection must not break shutdown
        logger.debug("closing the LISTEN connection failed", exc_info=True)
        connection.terminate()


def _internal_error(claim: queue.Claim, exc: Exception, now: datetime) -> delivery.Result:
    """The result of an attempt that raised: recorded as error kind ``error``, retried."""
    return delivery.Result(
        outcome=retry.Outcome(error_kind="error"),
        attempt=Attempt(
            id=ids.new_id("att", now.timestamp()),
            delivery_id=claim.delivery.id,
            endpoint_id=claim.endpoint.id,
            number=claim.delivery.attempts + 1,
            started_at=now,
            duration_ms=0.0,
            error_kind="error",
            error_message=f"internal error: {type(exc).__name__}: {exc}",
        ),
    )
