"""The use cases of statushooks, each one transaction: the API and the CLI call these.

A status change, the events it emits and their deliveries commit together (transactional
outbox): once a caller got an answer, the deliveries exist and the dispatcher will find them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

from statushooks import accounts, exceptions, ids, links, messages, notices, sms, urlguard
from statushooks.config import Settings
from statushooks.deliveries import Delivery, Event
from statushooks.endpoints import (
    DEFAULT_MAX_IN_FLIGHT,
    HMAC,
    SIGNATURE_VERSIONS,
    Endpoint,
    EndpointSecret,
    EndpointState,
    new_secret,
)
from statushooks.events import catalog, operational
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import idempotency as idempotent
from statushooks.storage import records
from statushooks.storage.idempotency import Key
from statushooks.storage.sql import Store
from statushooks.storage.transaction import StatusRecord, Transaction

SECRET_OVERLAP = timedelta(hours=24)
MAX_BULK_REPORTS = 1000
#: A bulk report at least this long is worked out before its write where one write runs at a
#: time (``Service._report``); a shorter one is applied in its write.
PLAN_AHEAD_MIN = 50
#: Seconds an authenticated API key is remembered in a process (``accounts.KeyCache``): a key
#: deleted in another process stops working here within this time.
KEY_CACHE_TTL = 5.0
KEY_CACHE_SIZE = 10_000  # API keys remembered per process, at most
Clock = Callable[[], datetime]
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class NewAccount:
    account: accounts.Account
    api_key_id: str
    #: Shown once; only its hash is stored.
    api_key: str


@dataclass(frozen=True, kw_only=True)
class StatusResult:
    """What one status report did."""

    message: Message
    changed: bool
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    """One item of a bulk status report."""

    message_id: str
    status: MessageStatus
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class BulkItemResult:
    """The result of one bulk item: a ``StatusResult`` or the error that refused it."""

    message_id: str
    result: StatusResult | None = None
    error: exceptions.StatushooksError | None = None

    def unwrap(self) -> StatusResult:
        """The result, or raise the error that refused the item."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass(frozen=True, kw_only=True)
class EndpointSpec:
    """What a caller may set on an endpoint (create, or the changed fields of an update)."""

    url: str
    description: str = ""
    enabled_events: tuple[str, ...] = ()
    statuses: tuple[MessageStatus, ...] = ()
    state: EndpointState = EndpointState.ACTIVE
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    rate_limit: float | None = None
    ordered: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The Standard Webhooks versions it is signed with (``v1`` HMAC, ``v1a`` Ed25519).
    signature_versions: tuple[str, ...] = (HMAC,)


#: ``EndpointSpec`` fields that are not ``Endpoint`` fields: they are kept another way.
_DERIVED = frozenset({"signature_versions"})


@dataclass(frozen=True, kw_only=True)
class Service:
    """The use cases, bound to one store, settings, pricing table and clock.

    Each use case prepares what it can outside the database (validation, pricing, rendering),
    then hands the store one piece of work that runs as one transaction. A creating use case
    takes an ``idempotency`` key: the key, the work and its answer commit together.
    """

    store: Store
    settings: Settings
    pricing: sms.PricingTable
    clock: Clock = utcnow
    keys: accounts.KeyCache = field(
        default_factory=lambda: accounts.KeyCache(
            ttl=KEY_CACHE_TTL, size=KEY_CACHE_SIZE, clock=time.monotonic
        )
    )

    async def _write(self, work: Callable[[Transaction], T], idempotency: Key | None = None) -> T:
        """``work`` in one write transaction, at most once per ``idempotency`` key."""
        now = self.clock()
        return await self.store.write(lambda tx: idempotent.run(tx, idempotency, now, work))

    # -- accounts --------------------------------------------------------------------------

    async def create_account(self, name: str, *, idempotency: Key | None = None) -> NewAccount:
        now = self.clock()
        account = accounts.Account(id=ids.new_id("acc", now.timestamp()), name=name, created_at=now)
        key, plaintext = _new_api_key(account.id, now)

        def work(tx: Transaction) -> NewAccount:
            tx.insert_account(account)
            tx.insert_api_key(key)
            return NewAccount(account=account, api_key_id=key.id, api_key=plaintext)

        return await self._write(work, idempotency)

    async def create_api_key(
        self, account_id: str, *, idempotency: Key | None = None
    ) -> tuple[str, str]:
        """A new key for the account: ``(key id, plaintext shown once)``."""
        key, plaintext = _new_api_key(account_id, self.clock())

        def work(tx: Transaction) -> tuple[str, str]:
            tx.get_account(account_id)
            tx.insert_api_key(key)
            return key.id, plaintext

        return await self._write(work, idempotency)

    async def delete_api_key(self, key_id: str) -> None:
        """Delete a key: it stops working in this process at once, in others within
        ``KEY_CACHE_TTL``."""
        await self.store.write(lambda tx: tx.delete_api_key(key_id))
        self.keys.clear()

    async def authenticate(self, plaintext: str) -> str | None:
        """The account id an API key belongs to, or None (``keys`` caches the answer)."""
        key_hash = accounts.hash_api_key(plaintext)
        account_id = self.keys.get(key_hash)
        if account_id is None:
            generation = self.keys.generation
            account_id = await self.store.read(lambda tx: tx.account_id_for_key_hash(key_hash))
            if account_id is not None:
                self.keys.put(key_hash, account_id, generation=generation)
        return account_id

    # -- endpoints -------------------------------------------------------------------------

    async def create_endpoint(
        self, account_id: str, spec: EndpointSpec, *, idempotency: Key | None = None
    ) -> Endpoint:
        self._check_endpoint_spec(spec)
        now = self.clock()
        endpoint = Endpoint(
            id=ids.new_id("ep", now.timestamp()),
            account_id=account_id,
            secrets=tuple(EndpointSecret(value=new_secret(v)) for v in spec.signature_versions),
            created_at=now,
            updated_at=now,
            disabled_reason="disabled by user" if spec.state is EndpointState.DISABLED else None,
            **_spec_fields(spec),
        )

        def work(tx: Transaction) -> Endpoint:
            tx.insert_endpoint(endpoint)
            tx.emit_notices([notices.notice(operational.ENDPOINT_CREATED, endpoint, now)])
            return endpoint

        return await self._write(work, idempotency)

    async def update_endpoint(
        self, account_id: str, endpoint_id: str, changes: Mapping[str, Any]
    ) -> Endpoint:
        """Apply the given ``EndpointSpec`` fields; resuming an endpoint wakes the dispatcher."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(EndpointSpec)}
        if unknown:
            raise exceptions.ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
        now = self.clock()

        def work(tx: Transaction) -> Endpoint:
            current = tx.get_endpoint(account_id, endpoint_id)
            spec = dataclasses.replace(_spec_of(current), **changes)
            self._check_endpoint_spec(spec)
            updated = dataclasses.replace(current, **_spec_fields(spec), updated_at=now)
            updated = _with_state_reason(current, updated)
            updated = _with_signature_versions(updated, spec.signature_versions, now)
            tx.update_endpoint(updated)
            tx.emit_notices(_update_notices(current, updated, now))
            if updated.state is EndpointState.ACTIVE and current.state is not EndpointState.ACTIVE:
                tx.queued(1)
            return updated

        return await self._write(work)

    async def get_endpoint(self, account_id: str, endpoint_id: str) -> Endpoint:
        return await self.store.read(lambda tx: tx.get_endpoint(account_id, endpoint_id))

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> None:
        now = self.clock()

        def work(tx: Transaction) -> None:
            endpoint = tx.get_endpoint(account_id, endpoint_id)
            tx.delete_endpoint(account_id, endpoint_id)
            tx.emit_notices([notices.notice(operational.ENDPOINT_DELETED, endpoint, now)])

        await self._write(work)

    async def rotate_secret(
        self, account_id: str, endpoint_id: str, *, idempotency: Key | None = None
    ) -> Endpoint:
        """A new secret (of each signature version the endpoint uses) signs from now on; the
        old ones keep signing alongside for 24 h."""
        now = self.clock()
        fresh = {
            version: EndpointSecret(value=new_secret(version)) for version in SIGNATURE_VERSIONS
        }

        def work(tx: Transaction) -> Endpoint:
            current = tx.get_endpoint(account_id, endpoint_id)
            new = tuple(fresh[version] for version in current.signature_versions)
            updated = dataclasses.replace(
                current, secrets=(*new, *_kept_secrets(current, now)), updated_at=now
            )
            tx.update_endpoint(updated)
            return updated

        return await self._write(work, idempotency)

    def _check_endpoint_spec(self, spec: EndpointSpec) -> None:
        urlguard.check_url(spec.url, allow_private=self.settings.allow_private_urls)
        for name in spec.enabled_events:
            catalog.get(name)
        if spec.max_in_flight < 1:
            raise _invalid("max_in_flight", "must be at least 1")
        if spec.rate_limit is not None and spec.rate_limit <= 0:
            raise _invalid("rate_limit", "must be a positive number of requests per second")
        versions = spec.signature_versions
        if not versions or len(set(versions)) != len(versions):
            raise _invalid("signature_versions", "one or both of v1 and v1a, each once")
        if any(version not in SIGNATURE_VERSIONS for version in versions):
            raise _invalid("signature_versions", "one or both of v1 and v1a, each once")

    # -- messages --------------------------------------------------------------------------

    async def submit_sms(
        self,
        account_id: str,
        *,
        to: str,
        sender: str,
        text: str,
        track_links: bool = False,
        idempotency: Key | None = None,
        **fields: Any,
    ) -> Message:
        """Record an SMS and emit its ``submitted`` events."""
        region = sms.region_code(to, field="to")
        made: tuple[links.TrackedLink, ...] = ()
        if track_links:
            text, made = links.track_links(text, public_base_url=self.settings.public_base_url)
        segments = sms.count_segments(text)
        message = self._new_message(
            account_id, Channel.SMS, to, region, segments, sender=sender, text=text, **fields
        )
        return await self._submit(message, made, idempotency)

    async def submit_email(
        self,
        account_id: str,
        *,
        to: str,
        sender: str,
        subject: str,
        idempotency: Key | None = None,
        **fields: Any,
    ) -> Message:
        """Record an email and emit its ``submitted`` events."""
        message = self._new_message(
            account_id, Channel.EMAIL, to, None, 1, sender=sender, subject=subject, **fields
        )
        return await self._submit(message, (), idempotency)

    async def submit_voice(
        self,
        account_id: str,
        *,
        to: str,
        verification_code: str,
        idempotency: Key | None = None,
        **fields: Any,
    ) -> Message:
        """Record a voice verification call and emit its ``submitted`` events."""
        region = sms.region_code(to, field="to")
        message = self._new_message(
            account_id, Channel.VOICE, to, region, 1, verification_code=verification_code, **fields
        )
        return await self._submit(message, (), idempotency)

    def _new_message(
        self,
        account_id: str,
        channel: Channel,
        to: str,
        region: str | None,
        segments: int,
        **fields: Any,
    ) -> Message:
        """A submitted message priced from the pricing table."""
        price = self.pricing.price(channel, region, segments)
        return messages.new_message(
            account_id=account_id,
            channel=channel,
            to=to,
            now=self.clock(),
            segments=segments,
            region_code=region,
            price=price.amount,
            currency=price.currency,
            **fields,
        )

    async def _submit(
        self, message: Message, made: Sequence[links.TrackedLink], idempotency: Key | None
    ) -> Message:
        """Store the message, its first history entry, its links and its ``submitted``
        events with their deliveries (the events are rendered before the transaction)."""
        message, events = self._render(message, MessageStatus.SUBMITTED, message.created_at)
        submitted = StatusRecord(
            status=MessageStatus.SUBMITTED,
            occurred_at=message.created_at,
            recorded_at=message.created_at,
        )

        def work(tx: Transaction) -> Message:
            tx.insert_message(message)
            tx.insert_statuses([(message.id, submitted)])
            tx.insert_links(message.account_id, message.id, made, message.created_at)
            _fan_out(tx, events)
            return message

        return await self._write(work, idempotency)

    async def get_message(
        self, account_id: str, message_id: str
    ) -> tuple[Message, list[StatusRecord], list[Event]]:
        """The message with its status history and its events."""

        def work(tx: Transaction) -> tuple[Message, list[StatusRecord], list[Event]]:
            message = tx.get_message(account_id, message_id)
            return message, tx.status_history(message_id), tx.message_events(message_id)

        return await self.store.read(work)

    # -- status reports --------------------------------------------------------------------

    async def report_status(
        self,
        account_id: str,
        message_id: str,
        report: StatusReport | None = None,
        *,
        idempotency: Key | None = None,
        **kw: Any,
    ) -> StatusResult:
        """Apply one delivery receipt; late or duplicate ones change and emit nothing."""
        report = report or StatusReport(message_id=message_id, **kw)

        def work(tx: Transaction) -> StatusResult:
            (item,) = self._apply(tx, account_id, [(report, None)])
            return item.unwrap()  # a refused report writes nothing, keeps no key

        return await self._write(work, idempotency)

    async def report_statuses(
        self,
        account_id: str,
        reports: Sequence[StatusReport],
        *,
        idempotency: Key | None = None,
    ) -> list[BulkItemResult]:
        """Apply up to 1,000 reports in one transaction, with a result per item."""
        if len(reports) > MAX_BULK_REPORTS:
            raise _invalid("reports", f"at most {MAX_BULK_REPORTS} reports per request")
        return await self._report(account_id, [(report, None) for report in reports], idempotency)

    async def record_click(self, code: str, *, user_agent: str | None) -> str:
        """Record a click on a tracked link; the original URL to redirect to."""

        def work(tx: Transaction) -> str:
            account_id, message_id, url = tx.get_link(code)
            report = StatusReport(message_id=message_id, status=MessageStatus.CLICKED)
            detail = {"user_agent": user_agent, "url": url}
            (item,) = self._apply(tx, account_id, [(report, detail)])
            item.unwrap()
            return url

        return await self._write(work)

    async def _report(
        self, account_id: str, items: Sequence[_Item], idempotency: Key | None
    ) -> list[BulkItemResult]:
        """Apply reports in one write transaction, with a result per item.

        Where one write runs at a time on the whole database (SQLite, which the dispatcher
        needs too), a large batch is read, applied and rendered in a read transaction first,
        and the write only checks that the messages and endpoints read are unchanged and
        writes (or, if they changed meanwhile, applies the reports again). Elsewhere, and for
        small batches, the reports are applied in the write (PostgreSQL locks the messages'
        rows: ``FOR UPDATE``).
        """

        def apply(tx: Transaction) -> list[BulkItemResult]:
            return self._apply(tx, account_id, items)

        if not self.store.single_writer or len(items) < PLAN_AHEAD_MIN:
            return await self._write(apply, idempotency)
        plan = await self.store.read(lambda tx: self._plan(tx, account_id, items))

        def write(tx: Transaction) -> list[BulkItemResult]:
            if not _still_holds(tx, account_id, plan):
                return apply(tx)
            _write_plan(tx, plan)
            return plan.results

        return await self._write(write, idempotency)

    def _apply(
        self, tx: Transaction, account_id: str, items: Sequence[_Item]
    ) -> list[BulkItemResult]:
        """Apply reports in order, a few statements for the whole batch."""
        plan = self._plan(tx, account_id, items)
        _write_plan(tx, plan)
        return plan.results

    def _plan(self, tx: Transaction, account_id: str, items: Sequence[_Item]) -> _Plan:
        """Read the reports' messages and the account's endpoints, and work out what the
        reports change (nothing is written here).

        A message reported twice in one batch sees its first report applied before the second.
        """
        now = self.clock()
        found = tx.messages_for_update(account_id, (report.message_id for report, _ in items))
        endpoints = tx.fanout_endpoints(account_id)
        plan = _Plan(
            versions={report.message_id: None for report, _ in items}
            | {message.id: records.message_version(message) for message in found.values()},
            endpoints=endpoints,
        )
        for report, detail in items:
            item = self._apply_one(found.get(report.message_id), report, now)
            plan.results.append(item)
            if item.result is None or not item.result.changed:
                continue
            updated = item.result.message
            found[updated.id] = plan.changed[updated.id] = updated
            record = StatusRecord(
                status=report.status,
                occurred_at=report.occurred_at or now,
                recorded_at=now,
                error_code=report.error_code,
                error_message=report.error_message,
                detail=detail,
            )
            plan.history.append((updated.id, record))
            plan.events.extend(item.result.events)
        plan.deliveries = _deliveries_of(plan.events, endpoints)
        return plan

    def _apply_one(
        self, message: Message | None, report: StatusReport, now: datetime
    ) -> BulkItemResult:
        """One report against the message as it stands: refused, unchanged, or changed with
        its rendered events (nothing is written here)."""
        if message is None:
            error = exceptions.NotFoundError(f"no message {report.message_id}")
            return BulkItemResult(message_id=report.message_id, error=error)
        try:
            change = messages.apply_status(
                message,
                report.status,
                now=now,
                occurred_at=report.occurred_at,
                error_code=report.error_code,
                error_message=report.error_message,
            )
        except exceptions.ValidationError as exc:
            return BulkItemResult(message_id=report.message_id, error=exc)
        if not change.changed:
            result = StatusResult(message=message, changed=False)
        else:
            updated, events = self._render(change.after, report.status, now)
            result = StatusResult(message=updated, changed=True, events=tuple(events))
        return BulkItemResult(message_id=report.message_id, result=result)

    # -- events ----------------------------------------------------------------------------

    def _render(
        self, message: Message, status: MessageStatus, now: datetime
    ) -> tuple[Message, list[Event]]:
        """The events ``status`` emits for ``message``, and the message with its new sequence."""
        events: list[Event] = []
        sequence = message.last_sequence
        for event_type in catalog.emitted_by(message.channel, status):
            sequence += 1
            event_id = ids.new_id("evt", now.timestamp())
            body = catalog.render(
                event_type,
                message,
                status=status,
                event_id=event_id,
                now=now,
                public_base_url=self.settings.public_base_url,
            )
            events.append(
                Event(
                    id=event_id,
                    account_id=message.account_id,
                    message_id=message.id,
                    type=event_type.name,
                    status=status,
                    payload=orjson.dumps(body),
                    sequence=sequence,
                    created_at=now,
                )
            )
        return messages.evolve(message, last_sequence=sequence), events

    async def send_test(
        self,
        account_id: str,
        endpoint_id: str,
        event_type: str,
        *,
        idempotency: Key | None = None,
    ) -> Delivery:
        """Send the type's example payload to one endpoint through the normal pipeline."""
        kind = catalog.get(event_type)
        now = self.clock()
        event_id = ids.new_id("evt", now.timestamp())
        body = catalog.example_payload(kind, event_id=event_id, now=now)
        status = None if kind.channel is None else MessageStatus(_example_status(body))
        event = Event(
            id=event_id,
            account_id=account_id,
            message_id=None,
            type=kind.name,
            status=status,
            payload=orjson.dumps(body),
            sequence=0,
            created_at=now,
        )

        def work(tx: Transaction) -> Delivery:
            endpoint = tx.get_endpoint(account_id, endpoint_id)
            if endpoint.state is EndpointState.DISABLED:
                raise exceptions.ConflictError(f"endpoint {endpoint_id} is disabled")
            delivery = records.new_delivery(event, endpoint, now)
            tx.insert_events([event])
            tx.insert_deliveries([delivery])
            return delivery

        return await self._write(work, idempotency)

    async def retry_delivery(
        self, account_id: str, delivery_id: str, *, idempotency: Key | None = None
    ) -> Delivery:
        now = self.clock()
        return await self._write(
            lambda tx: tx.requeue_delivery(account_id, delivery_id, now), idempotency
        )

    async def recover(
        self,
        account_id: str,
        endpoint_id: str,
        *,
        since: datetime,
        until: datetime | None = None,
        idempotency: Key | None = None,
    ) -> int:
        """Re-queue every failed delivery of the endpoint in the window; how many."""
        now = self.clock()

        def work(tx: Transaction) -> int:
            return tx.requeue_failed(
                account_id, endpoint_id, since=since, until=until or now, now=now
            )

        return await self._write(work, idempotency)


_Item = tuple[StatusReport, Mapping[str, Any] | None]  # a report, and its status's detail


@dataclass(kw_only=True)
class _Plan:
    """What a batch of reports changes, and what it was worked out from."""

    #: Each reported message's ``message_version`` as read (None: there was no such message).
    versions: dict[str, tuple[Any, ...] | None]
    #: The account's endpoints as read (``Transaction.fanout_endpoints``).
    endpoints: list[Endpoint]
    results: list[BulkItemResult] = field(default_factory=list)
    changed: dict[str, Message] = field(default_factory=dict)
    history: list[tuple[str, StatusRecord]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


def _fan_out(tx: Transaction, events: Sequence[Event]) -> None:
    """Store each event once and queue a delivery to every endpoint that wants it."""
    deliveries: list[Delivery] = []
    for event in events:
        deliveries.extend(_deliveries_of([event], tx.fanout_endpoints(event.account_id)))
    tx.insert_events(events)
    tx.insert_deliveries(deliveries)


def _still_holds(tx: Transaction, account_id: str, plan: _Plan) -> bool:
    """Whether the messages and endpoints ``plan`` was made from are as they were read."""
    if tx.message_versions(account_id, plan.versions) != plan.versions:
        return False
    return tx.fanout_endpoints(account_id) == plan.endpoints


def _write_plan(tx: Transaction, plan: _Plan) -> None:
    tx.update_statuses(plan.changed.values())
    tx.insert_statuses(plan.history)
    tx.insert_events(plan.events)
    tx.insert_deliveries(plan.deliveries)


def _new_api_key(account_id: str, now: datetime) -> tuple[accounts.ApiKey, str]:
    """A new key of the account, as stored, and its plaintext (shown once)."""
    plaintext = accounts.new_api_key()
    key = accounts.ApiKey(
        id=ids.new_id("key", now.timestamp()),
        account_id=account_id,
        prefix=accounts.display_prefix(plaintext),
        key_hash=accounts.hash_api_key(plaintext),
        created_at=now,
    )
    return key, plaintext


def _kept_secrets(endpoint: Endpoint, now: datetime) -> tuple[EndpointSecret, ...]:
    """The endpoint's live secrets, each to expire within ``SECRET_OVERLAP`` of ``now``."""
    overlap_until = now + SECRET_OVERLAP
    return tuple(
        dataclasses.replace(
            secret, expires_at=min(secret.expires_at or overlap_until, overlap_until)
        )
        for secret in endpoint.secrets
        if secret.is_live(now)
    )


def _deliveries_of(events: Sequence[Event], endpoints: Sequence[Endpoint]) -> list[Delivery]:
    """A new delivery of each event to each endpoint that wants it."""
    return [
        records.new_delivery(event, endpoint, event.created_at)
        for event in events
        for endpoint in endpoints
        if endpoint.accepts(event.type, event.status)
    ]


def _invalid(field_name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        f"{field_name}: {message}", errors=[{"field": field_name, "message": message}]
    )


def _spec_fields(spec: EndpointSpec) -> dict[str, Any]:
    return {
        f.name: getattr(spec, f.name)
        for f in dataclasses.fields(EndpointSpec)
        if f.name not in _DERIVED
    }


def _with_signature_versions(
    endpoint: Endpoint, versions: Sequence[str], now: datetime
) -> Endpoint:
    """The endpoint signed with ``versions``: a new secret for a version it lacked; the
    current secrets of a version dropped keep signing alongside for ``SECRET_OVERLAP``."""
    current = endpoint.signature_versions
    if tuple(versions) == current:
        return endpoint
    added = tuple(
        EndpointSecret(value=new_secret(version)) for version in versions if version not in current
    )
    overlap_until = now + SECRET_OVERLAP
    kept = tuple(
        secret
        if secret.version in versions
        else dataclasses.replace(
            secret, expires_at=min(secret.expires_at or overlap_until, overlap_until)
        )
        for secret in endpoint.secrets
        if secret.is_live(now)
    )
    return dataclasses.replace(endpoint, secrets=(*added, *kept))


def _spec_of(endpoint: Endpoint) -> EndpointSpec:
    return EndpointSpec(
        **{f.name: getattr(endpoint, f.name) for f in dataclasses.fields(EndpointSpec)}
    )


def _with_state_reason(current: Endpoint, updated: Endpoint) -> Endpoint:
    """Keep ``disabled_reason``, the failure clock and the burst suspension consistent with a
    state change: resuming an endpoint starts it afresh."""
    if updated.state is current.state:
        return updated
    if updated.state is EndpointState.DISABLED:
        return dataclasses.replace(updated, disabled_reason="disabled by user")
    return dataclasses.replace(
        updated,
        disabled_reason=None,
        failing_since=None,
        failures=0,
        failures_since=None,
        suspensions=0,
        suspended_until=None,
    )


def _update_notices(current: Endpoint, updated: Endpoint, now: datetime) -> list[notices.Notice]:
    """``endpoint.updated``, and ``endpoint.disabled`` when it was disabled by hand."""
    found = [notices.notice(operational.ENDPOINT_UPDATED, updated, now)]
    if updated.state is EndpointState.DISABLED and current.state is not EndpointState.DISABLED:
        found.append(notices.disabled(updated, updated.disabled_reason or "", now))
    return found


def _example_status(body: Mapping[str, Any]) -> str:
    """The status field of an example payload, whichever dialect it is in."""
    for key in ("data", "sms", "voice", "emailDelivery"):
        inner = body.get(key)
        if isinstance(inner, Mapping) and "status" in inner:
            status = str(inner["status"])
            return status if status in MessageStatus.__members__.values() else "submitted"
    return MessageStatus.SUBMITTED.value
