"""The dispatcher: claim due deliveries, attempt them, record the results — shaped like
procrastinate's worker.

::

    dispatch loop ──claims──▶ attempt tasks (≤ dispatch_concurrency) ──results──┐
        ▲   └──────────── one exchange per cycle: write results, claim more ◀────┘
        └──── wake: a finished attempt, new work (in-process event / PostgreSQL NOTIFY),
              a poll tick

* **One exchange per cycle** (``Queue.exchange``): the results buffered since the last cycle
  are written and the room they give back is claimed again, in one transaction.
  Under load a cycle carries hundreds of results (group commit) while the attempts of the
  others are in flight; when idle each result is written at once. A transaction never waits
  for HTTP. The claims' attempts start as soon as they are leased, while the commit is still
  being written (a SQLite drain: +3–4 %); if that commit fails, their results are stale and
  the deliveries, still pending, go out again (at-least-once, as ever).
* **Claims** are batched (``dispatch_batch``) and leased (see ``storage.queue``).
* **Wake-up without busy polling**: ``Store.new_work`` (set when this process queued
  deliveries); from other processes the backend's watcher (``Store.watch``: ``LISTEN`` on
  PostgreSQL, reconnected when it drops; on an SQLite file a look at its data version every
  2 ms while the dispatcher sleeps with nothing more due); and a slow poll
  (``poll_interval``) for retries that become due and as the fallback. A dispatcher sleeps
  no longer than until the earliest retry it scheduled itself, so its retries go out on time.
* **Decisions** come from ``retry.RetryPolicy``: succeed, retry at T (``Retry-After``
  honoured), exhaust (the dead letter; also on ``webhook-delivery: abort-message``), or
  disable the endpoint (410 Gone, or ``webhook-delivery: disable``).
* **Burst suspension** (``statushooks.suspension``): an endpoint whose attempts fail in a
  burst is left out of the claims for a short, growing pause, then resumes by itself.
* **Fairness**: each worker serves its share of every endpoint's ``max_in_flight`` (the live
  workers split it: ``storage.queue``), and an in-process token bucket honours its
  ``rate_limit`` (requests per second, per process). A worker leaves the workers' table when
  it stops, so the others take its share at once.
* **Leasing ahead** (``Settings.lease_ahead``): a claim may lease up to twice an endpoint's
  share; the attempts beyond the share wait here, per endpoint in claim order, and start as
  soon as one of the endpoint's requests finishes, not at the next exchange. An endpoint never
  has more than its share of requests open. A waiting claim whose lease could run out before
  its attempt would end is not sent: once its lease expires, any worker can claim it again.
* **Shutdown** (``stop()``, SIGTERM in the worker): stop claiming, let in-flight attempts finish
  within ``shutdown_timeout``, write their results, give the rest's leases back.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from statushooks import backlog, delivery, exceptions, ids, retention, retry, suspension
from statushooks import http as httpclient
from statushooks.config import Settings
from statushooks.deliveries import Attempt
from statushooks.endpoints import Endpoint
from statushooks.storage import base, queue
from statushooks.storage.sql import Store

logger = logging.getLogger(__name__)

FLUSH_ATTEMPTS = 5  # tries to write one batch of results before leaving it to lease expiry
FLUSH_RETRY_DELAY = 0.5  # seconds between those tries
WORKER_ID_LENGTH = 100  # characters of ``deliveries.lease_owner``
#: Seconds a dispatcher sleeps past its earliest retry's due time, so that the claim finds it
#: due (the claim compares with the clock it reads then).
RETRY_WAKE_MARGIN = 0.005
#: Retry times a dispatcher remembers to wake for; past that, the poll finds the rest.
RETRY_TIMES = 10_000
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    """``host:pid:random``: unique per dispatcher, readable in ``deliveries.lease_owner``.
    ``host`` is ``this_host()``: the host name and the process's PID namespace."""
    return f"{this_host()}:{os.getpid()}:{secrets.token_hex(3)}"[-WORKER_ID_LENGTH:]


def this_host() -> str:
    """The host name, with the inode of this process's PID namespace where there is one
    (Linux: ``name~4026531836``). Two containers that share a host name (host networking)
    each have PID namespaces of their own, and a pid of one means nothing in the other."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}~{namespace}"


def worker_is_gone(worker_id: str) -> bool:
    """Whether the worker of ``worker_id`` (``default_worker_id``) ran on this host, in this
    PID namespace, and its process no longer runs (or is a zombie): it is dead before its row
    expires. A worker elsewhere, or of another shape of id, is not known to be gone (its
    row's expiry tells). A pid reused by another process reads as alive: the expiry tells
    then too."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != this_host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but not been reaped (Linux ``/proc``; elsewhere: no)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


@dataclass(kw_only=True)
class DispatcherStats:
    """Counters of one dispatcher since it started."""

    #: Cycles that claimed, and deliveries they leased.
    claim_rounds: int = 0
    claimed: int = 0
    #: Transactions that wrote results.
    write_rounds: int = 0
    attempted: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    #: Results not written because the lease had been lost meanwhile.
    stale: int = 0
    released: int = 0
    #: Endpoints suspended after a burst of failures (``statushooks.suspension``).
    suspended: int = 0


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
            lease_ahead=settings.lease_ahead,
            is_gone=worker_is_gone,
            suspension_policy=suspension.SuspensionPolicy.from_settings(settings),
        )
        self.policy = retry.RetryPolicy.from_settings(settings)
        self.stats = DispatcherStats()
        self._given_http = http
        self._client: httpclient.Client | None = http
        self._clock = clock
        self._concurrency = settings.dispatch_concurrency
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()
        #: Whether more may be due than the last claim found: set by new work and poll ticks,
        #: cleared by a claim that found less than it asked for (unless work came meanwhile).
        self._more_due = True
        #: How many times work came (``_work_came``): a claim that ran meanwhile may have
        #: looked before that work was committed.
        self._work_signals = 0
        #: The retries this dispatcher scheduled that have not come due yet (a heap, at most
        #: ``RETRY_TIMES`` of them): it sleeps no longer than until the earliest, so its own
        #: retries go out on time, not at the next poll.
        self._retry_times: list[datetime] = []
        #: Results not written yet (their leases are still held).
        self._results: list[queue.Completion] = []
        #: Per endpoint, how many of ``_results`` there are: they hold no request open, so the
        #: claim does not count their leases against ``max_in_flight`` (``Queue.exchange``).
        self._finished: dict[str, int] = {}
        self._failed_writes = 0
        self._running: dict[asyncio.Task[None], queue.Claim] = {}
        #: Per endpoint, attempts running, and claims leased ahead waiting for one to finish.
        self._sending: dict[str, int] = {}
        self._waiting: dict[str, deque[queue.Claim]] = {}
        #: A waiting claim is sent only while its lease outlives a whole attempt.
        self._attempt_time = timedelta(seconds=settings.delivery_timeout)
        #: Leases held without a result yet: given back on shutdown.
        self._open_leases: dict[str, str] = {}
        self._buckets: dict[str, TokenBucket] = {}
        #: Wake-ups from other processes (``Store.watch``), while running.
        self._watcher: base.Watcher | None = None

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
        helpers = [
            asyncio.create_task(self._watch_new_work(), name="watch-new-work"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._prune(), name="retention"),
            asyncio.create_task(self._sample_backlog(), name="backlog-samples"),
        ]
        loop = asyncio.get_running_loop()

        def committed() -> None:  # in the watcher's thread, or on this loop
            loop.call_soon_threadsafe(self._work_came)

        watcher = self._watcher = self.store.watch(committed)
        if watcher is not None:
            watcher.pause()  # until the dispatcher sleeps with nothing more due
        logger.info("dispatcher %s started", self.worker_id)
        try:
            await self._dispatch_loop()
        finally:
            if watcher is not None:
                await watcher.close()
                self._watcher = None
            await self._shutdown()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if owned and isinstance(client, httpclient.HttpClient):
                await client.close()
            logger.info("dispatcher %s stopped", self.worker_id)

    async def _dispatch_loop(self) -> None:
        while not self._stop_event.is_set():
            self._wake.clear()
            if self._waiting:
                self._sweep_waiting()
            limit = self._claim_limit()
            if not self._results and not limit:
                await self._sleep_until_woken()
                continue
            await self._exchange(limit)

    def _claim_limit(self) -> int:
        """How many to claim this cycle: the free slots, if there may be work for them (more
        was due, or results are about to be written: they may free room or ordered
        successors)."""
        waiting = sum(len(claims) for claims in self._waiting.values())
        free = self._concurrency - len(self._running) - waiting
        if free <= 0 or not (self._more_due or self._results):
            return 0
        return min(self.settings.dispatch_batch, free)

    async def _sleep_until_woken(self) -> None:
        # Only a dispatcher that expects nothing more needs to hear of other processes'
        # commits: one with more due sleeps for want of room, which a finished attempt gives.
        watcher = None if self._more_due else self._watcher
        if watcher is not None:
            watcher.resume()
        try:
            async with asyncio.timeout(self._sleep_seconds()):
                await self._wake.wait()
        except TimeoutError:
            self._more_due = True  # retries may have come due meanwhile
            now = self._clock()
            while self._retry_times and self._retry_times[0] <= now:
                heapq.heappop(self._retry_times)
        finally:
            if watcher is not None:
                watcher.pause()

    def _sleep_seconds(self) -> float:
        """Until the next poll, or until the earliest retry this dispatcher scheduled."""
        if not self._retry_times:
            return self.settings.poll_interval
        until = (self._retry_times[0] - self._clock()).total_seconds() + RETRY_WAKE_MARGIN
        return min(self.settings.poll_interval, max(until, 0.0))

    async def _exchange(self, limit: int) -> None:
        """One cycle's transaction: write the buffered results, claim up to ``limit``; the
        claims' attempts start as soon as they are leased, while the commit is written."""
        batch, self._results, self._finished = self._results, [], {}
        signals = self._work_signals
        loop = asyncio.get_running_loop()

        handed: list[queue.Claim] = []

        def leased(claims: list[queue.Claim]) -> None:  # in the store's thread
            handed.extend(claims)
            loop.call_soon_threadsafe(self._start_all, claims)

        try:
            report, claims = await self.queue.exchange(
                batch,
                limit=limit,
                now=self._clock(),
                quota=self._quota,
                finished=self._finished,
                leased=leased,
            )
        except exceptions.StorageError:
            logger.exception("writing %d results and claiming failed", len(batch))
            self._drop_waiting({claim.lease_id for claim in handed})
            await self._write_failed(batch)
            return
        self._failed_writes = 0
        if batch:
            self.stats.write_rounds += 1
            self._count(batch, report)
        if limit:
            self._count_claims(claims)
            # The claim looked at a window of the ring only: more may be due beyond it.
            self._more_due = (
                len(claims) >= limit or self.queue.more_due or self._work_signals != signals
            )

    async def _write_failed(self, batch: list[queue.Completion]) -> None:
        """Keep the results for the next cycle, up to ``FLUSH_ATTEMPTS`` tries; pause."""
        self._failed_writes += 1
        if self._failed_writes < FLUSH_ATTEMPTS:
            self._results = batch + self._results
            for completion in batch:
                self._count_finished(completion.endpoint_id)
        else:
            self._failed_writes = 0
            self.queue.forget(batch)
            logger.error("dropped %d results: their leases will expire and be retried", len(batch))
        await asyncio.sleep(FLUSH_RETRY_DELAY)

    def _count_claims(self, claims: list[queue.Claim]) -> None:
        for claim in claims:
            bucket = self._buckets.get(claim.endpoint.id)
            if bucket is not None and claim.endpoint.rate_limit is not None:
                bucket.take(1)
        self.stats.claim_rounds += 1
        self.stats.claimed += len(claims)

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

    async def _prune(self) -> None:
        """Delete what is older than ``Settings.retention``, every ``Settings.prune_interval``
        (``retention``)."""
        await retention.prune_periodically(
            self.store,
            older_than=timedelta(seconds=self.settings.retention_seconds),
            clock=self._clock,
            interval=self.settings.prune_interval_seconds,
        )

    async def _sample_backlog(self) -> None:
        """Record every account's backlog once a minute, for the dashboard (``backlog``)."""
        await backlog.sample_periodically(self.store, clock=self._clock)

    async def _heartbeat(self) -> None:
        """Renew this worker's row every ``queue.RENEW_INTERVAL`` whether or not it claims
        (one whose every slot is busy with slow requests claims nothing for a while): the
        other workers take a worker without a heartbeat for ``queue.WORKER_TTL`` for dead."""
        interval = queue.RENEW_INTERVAL.total_seconds()
        while True:
            await asyncio.sleep(interval)
            if self._stop_event.is_set():
                return  # stopping: the worker leaves; a renewal now would add its row back
            try:
                await self.queue.heartbeat(now=self._clock())
            except exceptions.StorageError as exc:  # the next beat tries again
                logger.warning("worker %s heartbeat failed: %s", self.worker_id, exc)

    async def _watch_new_work(self) -> None:
        while True:
            await self.store.new_work.wait()
            self.store.new_work.clear()
            self._work_came()

    def _work_came(self) -> None:
        """Deliveries were queued (or may have been): claim at once."""
        self._work_signals += 1
        self._more_due = True
        self._wake.set()

    # -- attempts --------------------------------------------------------------------------

    def _start_all(self, claims: list[queue.Claim]) -> None:
        """Start the claims' attempts, or keep them waiting behind their endpoint's share."""
        for claim in claims:
            self._open_leases[claim.delivery.id] = claim.lease_id
            endpoint_id = claim.endpoint.id
            waiting = self._waiting.get(endpoint_id)
            if waiting is None and self._has_slot(claim.endpoint):
                self._start(claim)
            else:
                self._waiting.setdefault(endpoint_id, deque()).append(claim)

    def _has_slot(self, endpoint: Endpoint) -> bool:
        return self._sending.get(endpoint.id, 0) < self.queue.share_of(endpoint)

    def _start(self, claim: queue.Claim) -> None:
        endpoint_id = claim.endpoint.id
        self._sending[endpoint_id] = self._sending.get(endpoint_id, 0) + 1
        task = asyncio.create_task(self._attempt(claim), name=f"attempt-{claim.delivery.id}")
        self._running[task] = claim
        task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        claim = self._running.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("attempt task failed", exc_info=task.exception())
        if claim is not None:
            endpoint_id = claim.endpoint.id
            self._sending[endpoint_id] -= 1
            if not self._sending[endpoint_id]:
                del self._sending[endpoint_id]
            if not self._stop_event.is_set():
                self._start_waiting(endpoint_id)
        self._wake.set()  # a result to write, a free slot

    def _start_waiting(self, endpoint_id: str) -> None:
        """Start the endpoint's waiting claims, oldest first, while it has free slots; let
        those go whose lease would run out before their attempt."""
        waiting = self._waiting.get(endpoint_id)
        while waiting:
            claim = waiting[0]
            sendable = self._lease_outlives_attempt(claim)
            if sendable and not self._has_slot(claim.endpoint):
                break
            waiting.popleft()
            if sendable:
                self._start(claim)
            else:
                self._let_expire(claim)
        if waiting is not None and not waiting:
            del self._waiting[endpoint_id]

    def _sweep_waiting(self) -> None:
        """Every endpoint's waiting claims, as after a finished attempt: a share may have
        grown, or a lease may be running out, with no attempt of the endpoint left to finish."""
        for endpoint_id in list(self._waiting):
            self._start_waiting(endpoint_id)

    def _drop_waiting(self, lease_ids: set[str]) -> None:
        """Forget the waiting claims of leases whose transaction failed (never taken)."""
        if not lease_ids:
            return
        for endpoint_id, waiting in list(self._waiting.items()):
            kept: deque[queue.Claim] = deque()
            for claim in waiting:
                if claim.lease_id in lease_ids:
                    self._open_leases.pop(claim.delivery.id, None)
                else:
                    kept.append(claim)
            if kept:
                self._waiting[endpoint_id] = kept
            else:
                del self._waiting[endpoint_id]

    def _lease_outlives_attempt(self, claim: queue.Claim) -> bool:
        expires = claim.delivery.lease_expires_at
        return expires is not None and expires - self._clock() > self._attempt_time

    def _let_expire(self, claim: queue.Claim) -> None:
        logger.warning(
            "delivery %s waited too long to be sent under its lease: it is claimable again"
            " once the lease expires",
            claim.delivery.id,
        )
        self._open_leases.pop(claim.delivery.id, None)
        self.queue.let_expire(claim)

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
                disable_reason=decision.disable_reason,
                event_id=claim.delivery.event_id,
                event_type=claim.delivery.event_type,
                message_id=claim.delivery.message_id,
            )
        )
        if decision.retry_at is not None and len(self._retry_times) < RETRY_TIMES:
            heapq.heappush(self._retry_times, decision.retry_at)
        if logger.isEnabledFor(logging.INFO):
            _log_attempt(claim, result.attempt, decision.action, decision.retry_at)
        self._count_finished(claim.endpoint.id)
        self._open_leases.pop(claim.delivery.id, None)
        self.stats.attempted += 1

    def _count_finished(self, endpoint_id: str) -> None:
        self._finished[endpoint_id] = self._finished.get(endpoint_id, 0) + 1

    # -- results ---------------------------------------------------------------------------

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
        for endpoint_id in report.suspended:
            logger.warning("endpoint %s suspended after a burst of failures", endpoint_id)
        self.stats.suspended += len(report.suspended)

    # -- shutdown --------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        running = list(self._running)
        if running:
            _, pending = await asyncio.wait(running, timeout=self.settings.shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        while self._results:
            await self._exchange(limit=0)
        await self._release_open_leases()
        try:
            await self.queue.leave()
        except exceptions.StorageError:
            logger.exception("leaving the workers failed: the others take its share on expiry")

    async def _release_open_leases(self) -> None:
        """Give back the leases of attempts cut short and of claims still waiting."""
        self._waiting = {}
        leases, self._open_leases = list(self._open_leases.items()), {}
        if not leases:
            return
        try:
            self.stats.released += await self.queue.release(leases, now=self._clock())
        except exceptions.StorageError:
            logger.exception("giving back %d leases failed: they will expire", len(leases))


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


def _log_attempt(
    claim: queue.Claim, attempt: Attempt, action: str, retry_at: datetime | None
) -> None:
    """One INFO line per attempt outcome: endpoint, event, answer, duration, what comes next."""
    answer = attempt.response_status if attempt.response_status is not None else attempt.error_kind
    next_retry = retry_at.isoformat() if retry_at is not None else None
    logger.info(
        "attempt %d of %s to %s: %s in %.0f ms, %s%s",
        attempt.number,
        claim.delivery.event_id,
        claim.endpoint.id,
        answer,
        attempt.duration_ms,
        action,
        f" (next at {next_retry})" if next_retry is not None else "",
        extra={
            "delivery": claim.delivery.id,
            "event": claim.delivery.event_id,
            "event_type": claim.delivery.event_type,
            "endpoint": claim.endpoint.id,
            "attempt": attempt.number,
            "status": attempt.response_status,
            "error": attempt.error_kind,
            "duration_ms": round(attempt.duration_ms, 1),
            "outcome": action,
            "next_retry": next_retry,
        },
    )
