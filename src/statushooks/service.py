"""The use cases of statushooks, each one transaction: the API and the CLI call these.

A status change, the events it emits and their deliveries commit together (transactional
outbox): once a caller got an answer, the deliveries exist and the dispatcher will find them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from statushooks import (
    accounts,
    connectors,
    deliveries,
    exceptions,
    http,
    ids,
    inbound,
    links,
    messages,
    notices,
    sms,
    tracing,
    urlguard,
    verification,
)
from statushooks.config import Settings
from statushooks.connectors import base as connector_base
from statushooks.connectors import fetch, ses
from statushooks.connectors.cache import ConnectorCache
from statushooks.connectors.records import Connector, UnmatchedReceipt, fingerprint
from statushooks.connectors.sealing import Sealer
from statushooks.deliveries import Delivery, Event
from statushooks.endpoints import (
    DEFAULT_MAX_IN_FLIGHT,
    HMAC,
    REFUSING_STATES,
    SIGNATURE_VERSIONS,
    Endpoint,
    EndpointSecret,
    EndpointState,
    Verification,
    new_secret,
)
from statushooks.events import catalog, operational
from statushooks.inbound import (
    EventStatus,
    InboundSms,
    InboundStatus,
    KeywordAction,
    Keywords,
    Suppression,
)
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import idempotency as idempotent
from statushooks.storage import records
from statushooks.storage.idempotency import Key
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Page, StatusRecord, Transaction

SECRET_OVERLAP = timedelta(hours=24)
MAX_BULK_REPORTS = 1000
#: A bulk report at least this long is worked out before its write where one write runs at a
#: time (``Service._report``); a shorter one is applied in its write.
PLAN_AHEAD_MIN = 50
#: Seconds an authenticated API key is remembered in a process (``accounts.KeyCache``): a key
#: deleted in another process stops working here within this time.
KEY_CACHE_TTL = 5.0
KEY_CACHE_SIZE = 10_000  # API keys remembered per process, at most
#: Unmatched receipts kept per account: past it the oldest go (and a warning is logged).
MAX_UNMATCHED = 10_000
#: Seconds a connector (and its opened credentials) is remembered in a process: a connector
#: changed in another process is used as it was for at most this long.
CONNECTOR_CACHE_TTL = 5.0
CONNECTOR_CACHE_SIZE = 1_000
#: SNS signing certificates kept per process, by URL.
CERTIFICATE_CACHE_SIZE = 64
Clock = Callable[[], datetime]
InboundHandler = Callable[[Connector, Sequence[connector_base.InboundMessage]], Awaitable[int]]
T = TypeVar("T")
logger = logging.getLogger(__name__)


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
    #: Give the message its provider's id (``provider`` and ``provider_message_id`` together).
    provider: str | None = None
    provider_message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallbackResult:
    """What one provider callback did, by receipt."""

    #: Receipts it carried.
    received: int = 0
    #: Receipts that moved their message.
    applied: int = 0
    #: Receipts of a known message that moved nothing (late, duplicate, or a status that
    #: moves nothing, like ``queued`` or an email open), or that its channel cannot have.
    unchanged: int = 0
    #: Receipts for a provider id no message carries yet: kept, applied when one does.
    unmatched: int = 0
    #: Inbound messages it carried (handed to ``Service.receive_inbound``).
    inbound: int = 0
    #: Whether it confirmed an Amazon SNS subscription.
    confirmed: bool = False


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
class InboundResult:
    """What one inbound text did."""

    sms: InboundSms
    #: What its keyword did, if it was one.
    action: KeywordAction | None = None
    keyword: str | None = None
    #: Whether the sender is on the suppression list now.
    suppressed: bool
    events: tuple[Event, ...] = ()


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
    send_traceparent: bool = False
    verification: Verification = Verification.NONE
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
    #: GETs an allow-listed AWS URL (SNS certificates and subscription confirmations).
    fetch_aws: fetch.Fetcher = fetch.fetch_aws
    #: Takes the inbound messages of a callback; how many it took (None: none are taken).
    inbound_handler: InboundHandler | None = None
    #: SNS signing certificates fetched, by URL (PEM).
    certificates: dict[str, str] = field(default_factory=dict)
    connector_cache: ConnectorCache = field(
        default_factory=lambda: ConnectorCache(
            ttl=CONNECTOR_CACHE_TTL, size=CONNECTOR_CACHE_SIZE, clock=time.monotonic
        )
    )
    #: The webhook HTTP client endpoint verification goes through (``verify_endpoint``).
    http_client: http.HttpClient | None = None

    async def _write(self, work: Callable[[Transaction], T], idempotency: Key | None = None) -> T:
        """``work`` in one write transaction, at most once per ``idempotency`` key."""
        now = self.clock()
        if not tracing.active():
            return await self.store.write(lambda tx: idempotent.run(tx, idempotency, now, work))
        with tracing.span("statushooks.outbox.write"):
            traced = tracing.in_current_context(work)
            return await self.store.write(lambda tx: idempotent.run(tx, idempotency, now, traced))

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

    async def get_account(self, account_id: str) -> accounts.Account:
        return await self.store.read(lambda tx: tx.get_account(account_id))

    async def update_account(
        self, account_id: str, *, name: str | None = None, portal: Mapping[str, Any] | None = None
    ) -> accounts.Account:
        """Rename the account and/or change the given fields of its portal settings."""
        if portal is not None:
            unknown = set(portal) - {f.name for f in dataclasses.fields(accounts.PortalSettings)}
            if unknown:
                raise _invalid("portal", f"unknown fields: {', '.join(sorted(unknown))}")

        def work(tx: Transaction) -> accounts.Account:
            current = tx.get_account(account_id)
            settings = current.portal
            if portal is not None:
                changes = dict(portal)
                if "frame_ancestors" in changes:
                    changes["frame_ancestors"] = tuple(changes["frame_ancestors"] or ())
                settings = accounts.check_portal_settings(
                    dataclasses.replace(current.portal, **changes)
                )
            updated = dataclasses.replace(
                current, name=current.name if name is None else name, portal=settings
            )
            tx.update_account(updated)
            return updated

        return await self._write(work)

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
        endpoint = _pending_if_unverified(endpoint)

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
            updated = _pending_if_unverified(_with_verification_kept(current, updated))
            updated = _with_state_reason(current, updated)
            updated = _with_signature_versions(updated, spec.signature_versions, now)
            tx.update_endpoint(updated)
            tx.emit_notices(_update_notices(current, updated, now))
            if updated.state is EndpointState.ACTIVE and current.state is not EndpointState.ACTIVE:
                tx.queued(1)
            return updated

        return await self._write(work)

    async def verify_endpoint(self, account_id: str, endpoint_id: str) -> Endpoint:
        """Run the endpoint's verification (``verification.run``) and keep its verdict: granted,
        the endpoint becomes active (a paused one stays paused; a CloudEvents
        ``WebHook-Allowed-Rate`` becomes its rate limit); refused, it is ``pending`` with the
        reason in ``verification_error``.

        Raises:
            ConflictError: the endpoint has no verification, or is disabled.
            ConfigurationError: the service has no HTTP client.
        """
        if self.http_client is None:
            raise exceptions.ConfigurationError("no HTTP client to verify endpoints with")
        endpoint = await self.get_endpoint(account_id, endpoint_id)
        if endpoint.verification is Verification.NONE:
            raise exceptions.ConflictError(f"endpoint {endpoint_id} has no verification to run")
        if endpoint.state is EndpointState.DISABLED:
            raise exceptions.ConflictError(f"endpoint {endpoint_id} is disabled")
        origin = verification.origin_of(self.settings.public_base_url)
        verdict = await verification.run(
            self.http_client, endpoint, origin=origin, now=self.clock()
        )
        now = self.clock()

        def work(tx: Transaction) -> Endpoint:
            current = tx.get_endpoint(account_id, endpoint_id)
            if (current.url, current.verification) != (endpoint.url, endpoint.verification):
                raise exceptions.ConflictError(
                    f"endpoint {endpoint_id} changed during its verification: run it again"
                )
            updated = _verified(current, verdict, origin, now)
            tx.update_endpoint(updated)
            if updated.state is EndpointState.ACTIVE and current.state is not EndpointState.ACTIVE:
                tx.queued(1)  # deliveries it had before a failed re-verification are due again
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

    # -- connectors ------------------------------------------------------------------------

    @property
    def sealer(self) -> Sealer:
        return Sealer(self.settings.credentials_secret)

    def callback_url(self, connector_id: str) -> str:
        """Where the provider calls a connector (under the public base URL)."""
        return f"{self.settings.public_base_url}/hooks/{connector_id}"

    async def create_connector(
        self,
        account_id: str,
        *,
        provider: str,
        name: str,
        credentials: Mapping[str, str],
        idempotency: Key | None = None,
    ) -> Connector:
        """A connector; its credentials are sealed and never read back."""
        connectors.get(provider).check_credentials(credentials)
        now = self.clock()
        connector = Connector(
            id=ids.new_id("con", now.timestamp()),
            account_id=account_id,
            provider=provider,
            name=name,
            credentials=self.sealer.seal(credentials),
            created_at=now,
            updated_at=now,
        )

        def work(tx: Transaction) -> Connector:
            tx.insert_connector(connector)
            return connector

        return await self._write(work, idempotency)

    async def get_connector(self, account_id: str, connector_id: str) -> Connector:
        return await self.store.read(lambda tx: tx.get_connector(account_id, connector_id))

    async def update_connector(
        self,
        account_id: str,
        connector_id: str,
        *,
        name: str | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> Connector:
        """Rename a connector or replace its credentials (all of them)."""
        sealed = None
        now = self.clock()

        def work(tx: Transaction) -> Connector:
            current = tx.get_connector(account_id, connector_id)
            changes: dict[str, Any] = {"updated_at": now}
            if name is not None:
                changes["name"] = name
            if sealed is not None:
                changes["credentials"] = sealed
            updated = dataclasses.replace(current, **changes)
            tx.update_connector(updated)
            return updated

        if credentials is not None:
            provider = (await self.get_connector(account_id, connector_id)).provider
            connectors.get(provider).check_credentials(credentials)
            sealed = self.sealer.seal(credentials)
        updated = await self._write(work)
        self.connector_cache.clear()
        return updated

    async def delete_connector(self, account_id: str, connector_id: str) -> None:
        await self._write(lambda tx: tx.delete_connector(account_id, connector_id))
        self.connector_cache.clear()

    async def receive_callback(
        self,
        connector_id: str,
        *,
        method: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> CallbackResult:
        """A provider's callback: checked against the connector's credentials (nothing changes
        unless it passes), then its receipts applied in one transaction.

        Raises:
            NotFoundError: no such connector.
            SignatureError: the callback is not signed by the connector's credentials.
            ValidationError: the body is not in the provider's format.
        """
        connector, opened = await self._connector(connector_id)
        provider = connectors.get(connector.provider)
        request = connector_base.Callback(
            method=method.upper(),
            url=self.callback_url(connector.id) + (f"?{query}" if query else ""),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            query=dict(parse_qsl(query, keep_blank_values=True)) if query else {},
            received_at=self.clock(),
        )
        credentials = await self._with_certificate(connector, opened, request)
        provider.verify(request, credentials)
        parsed = provider.parse(request)
        confirmed = False
        if parsed.confirm_url is not None:
            await self.fetch_aws(parsed.confirm_url)
            confirmed = True
        inbound = await self.receive_inbound(connector, parsed.inbound) if parsed.inbound else 0
        if not parsed.receipts:
            return CallbackResult(inbound=inbound, confirmed=confirmed)
        now = self.clock()
        result = await self._write(lambda tx: self._apply_receipts(tx, connector, parsed, now))
        if inbound or confirmed:
            result = dataclasses.replace(result, inbound=inbound, confirmed=confirmed)
        return result

    async def receive_inbound(
        self, connector: Connector, inbound: Sequence[connector_base.InboundMessage]
    ) -> int:
        """Inbound messages a connector received (Twilio, Telnyx, Plivo, Bandwidth parse them),
        each taken in as ``POST /v1/inbound-sms`` takes one (``receive_inbound_sms``: inbound
        events, opt-out and opt-in keywords), or handed to ``inbound_handler`` when one is set.
        A provider's retry of a message is a replay of the key its message id makes: nothing
        is taken twice. How many were new."""
        if self.inbound_handler is not None:
            return await self.inbound_handler(connector, inbound)
        taken = 0
        for message in inbound:
            # Some providers leave the + out of the sender's number (Plivo, Vonage).
            sender = message.sender if message.sender.startswith("+") else f"+{message.sender}"
            try:
                received = self.new_inbound_sms(
                    connector.account_id,
                    sender=sender,
                    to=message.to,
                    text=message.text,
                    received_at=message.received_at,
                )
            except exceptions.ValidationError as exc:
                logger.warning(
                    "connector %s: inbound message %s not taken in: %s",
                    connector.id,
                    message.provider_message_id,
                    exc.message,
                )
                continue
            try:
                await self.receive_inbound_sms(
                    received, idempotency=_provider_key(connector, message)
                )
            except idempotent.ReplayedError:
                continue
            taken += 1
        return taken

    async def _connector(self, connector_id: str) -> tuple[Connector, Mapping[str, str]]:
        """The connector and its opened credentials (``connector_cache`` keeps them)."""
        cached = self.connector_cache.get(connector_id)
        if cached is None:
            generation = self.connector_cache.generation
            connector = await self.store.read(lambda tx: tx.get_connector(None, connector_id))
            cached = (connector, self.sealer.open(connector.credentials))
            self.connector_cache.put(cached, generation=generation)
        return cached

    async def _with_certificate(
        self,
        connector: Connector,
        opened: Mapping[str, str],
        request: connector_base.Callback,
    ) -> Mapping[str, str]:
        """The connector's credentials, with the SNS signing certificate (fetched from its
        allow-listed URL and cached) where none is configured."""
        if connector.provider != ses.PROVIDER.name or opened.get("certificate"):
            return opened
        url = ses.signing_cert_url(request)
        pem = self.certificates.get(url)
        if pem is None:
            pem = (await self.fetch_aws(url)).decode("ascii", "replace")
            ses.signing_key(pem)  # only a certificate is kept
            if len(self.certificates) >= CERTIFICATE_CACHE_SIZE:
                self.certificates.pop(next(iter(self.certificates)))
            self.certificates[url] = pem
        return {**opened, "certificate": pem}

    def _apply_receipts(
        self,
        tx: Transaction,
        connector: Connector,
        parsed: connector_base.Parsed,
        now: datetime,
    ) -> CallbackResult:
        """Apply the receipts of known messages (one plan for the batch) and keep the others."""
        moving = [receipt for receipt in parsed.receipts if receipt.status is not None]
        wanted = {receipt.provider_message_id for receipt in moving}
        found = tx.messages_by_provider_ids(connector.account_id, connector.provider, wanted)
        items: list[_Item] = []
        kept: list[UnmatchedReceipt] = []
        for receipt in moving:
            assert receipt.status is not None
            target = found.get(receipt.provider_message_id)
            if target is None:
                kept.append(_unmatched(connector, receipt, now))
                continue
            report = StatusReport(
                message_id=target.id,
                status=_fit(receipt.status, target.channel),
                error_code=receipt.error_code,
                error_message=receipt.error_message,
                occurred_at=receipt.occurred_at,
            )
            detail = _receipt_detail(
                connector.provider, connector.id, receipt.provider_message_id, receipt.raw_status
            )
            items.append((report, detail))
        by_id = {message.id: message for message in found.values()}
        results = self._apply(tx, connector.account_id, items, by_id) if items else []
        if kept:
            tx.insert_unmatched(kept)
            dropped = tx.trim_unmatched(connector.account_id, MAX_UNMATCHED)
            if dropped:
                logger.warning(
                    "account %s: %d unmatched receipts over %d dropped, the oldest first",
                    connector.account_id,
                    dropped,
                    MAX_UNMATCHED,
                )
        applied = sum(1 for item in results if item.result is not None and item.result.changed)
        return CallbackResult(
            received=len(parsed.receipts),
            applied=applied,
            unchanged=len(parsed.receipts) - applied - len(kept),
            unmatched=len(kept),
        )

    def _claim_unmatched(
        self, tx: Transaction, account_id: str, refs: Sequence[Message]
    ) -> list[BulkItemResult]:
        """Apply the receipts kept for messages that now carry a provider id, and forget
        them (nothing is read unless a message has one)."""
        results: list[BulkItemResult] = []
        for provider in sorted({message.provider for message in refs if message.provider}):
            by_id = {m.provider_message_id: m for m in refs if m.provider == provider}
            kept = tx.take_unmatched(account_id, provider, sorted(i for i in by_id if i))
            items: list[_Item] = []
            for receipt in kept:
                message = by_id[receipt.provider_message_id]
                report = StatusReport(
                    message_id=message.id,
                    status=_fit(receipt.status, message.channel),
                    error_code=receipt.error_code,
                    error_message=receipt.error_message,
                    occurred_at=receipt.occurred_at,
                )
                detail = _receipt_detail(
                    provider, receipt.connector_id, receipt.provider_message_id, receipt.raw_status
                )
                items.append((report, detail))
            if items:
                results.extend(self._apply(tx, account_id, items))
        return results

    async def list_unmatched(
        self,
        account_id: str,
        *,
        connector_id: str | None = None,
        limit: int,
        after: str | None,
    ) -> Page[UnmatchedReceipt]:
        def work(tx: Transaction) -> Page[UnmatchedReceipt]:
            if connector_id is not None:
                tx.get_connector(account_id, connector_id)
            return tx.list_unmatched(
                account_id, connector_id=connector_id, limit=limit, after=after
            )

        return await self.store.read(work)

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
        events with their deliveries (the events are rendered before the transaction); then
        apply the receipts its provider sent before it was recorded, if any."""
        _check_provider(message.provider, message.provider_message_id)
        message, events = self._render(message, MessageStatus.SUBMITTED, message.created_at)
        submitted = StatusRecord(
            status=MessageStatus.SUBMITTED,
            occurred_at=message.created_at,
            recorded_at=message.created_at,
        )

        def work(tx: Transaction) -> Message:
            stored, history, emitted = message, [(message.id, submitted)], events
            if message.channel is Channel.SMS and tx.is_suppressed(message.account_id, message.to):
                stored, failed, failed_events = self._fail_suppressed(message)
                history, emitted = [*history, (message.id, failed)], [*events, *failed_events]
            tx.insert_message(stored)
            tx.insert_statuses(history)
            tx.insert_links(message.account_id, message.id, made, message.created_at)
            _fan_out(tx, emitted)
            if stored.provider_message_id is None:
                return stored
            return _latest(stored, self._claim_unmatched(tx, stored.account_id, [stored]))

        return await self._write(work, idempotency)

    def _fail_suppressed(self, message: Message) -> tuple[Message, StatusRecord, list[Event]]:
        """A just-submitted SMS to a suppressed number, failed at once: the message, its
        ``failed`` history entry and its ``failed`` events."""
        now = message.created_at
        change = messages.apply_status(
            message,
            MessageStatus.FAILED,
            now=now,
            error_code=inbound.OPTED_OUT_CODE,
            error_message=inbound.OPTED_OUT_MESSAGE,
        )
        failed, events = self._render(change.after, MessageStatus.FAILED, now)
        record = StatusRecord(
            status=MessageStatus.FAILED,
            occurred_at=now,
            recorded_at=now,
            error_code=inbound.OPTED_OUT_CODE,
            error_message=inbound.OPTED_OUT_MESSAGE,
        )
        return failed, record, events

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
        _check_provider(report.provider, report.provider_message_id)

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
        for report in reports:
            _check_provider(report.provider, report.provider_message_id)
        return await self._report(account_id, [(report, None) for report in reports], idempotency)

    async def record_click(self, code: str, *, user_agent: str | None) -> str:
        """Record a click on a tracked link; the original URL to redirect to.

        Only a message's first click is recorded (a ``clicked`` status, its events and their
        deliveries): a click that would change nothing (a later click on any of its links, a
        click on a failed message) is answered from a read and writes nothing. The user agent
        is kept to its first ``links.MAX_USER_AGENT`` characters.
        """
        target, status = await self.store.read(lambda tx: tx.link_target(code))
        if not messages.is_advance(status, MessageStatus.CLICKED):
            return target

        def work(tx: Transaction) -> str:
            account_id, message_id, url = tx.get_link(code)
            report = StatusReport(message_id=message_id, status=MessageStatus.CLICKED)
            agent = links.stored_user_agent(user_agent)
            detail = {"user_agent": agent and deliveries.storable_text(agent), "url": url}
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
        plan = await self.store.read(
            tracing.in_current_context(lambda tx: self._plan(tx, account_id, items))
        )

        def write(tx: Transaction) -> list[BulkItemResult]:
            if not _still_holds(tx, account_id, plan):
                return apply(tx)
            _write_plan(tx, plan)
            if plan.provided:
                self._claim_unmatched(tx, account_id, plan.provided)
            return plan.results

        return await self._write(write, idempotency)

    def _apply(
        self,
        tx: Transaction,
        account_id: str,
        items: Sequence[_Item],
        found: dict[str, Message] | None = None,
    ) -> list[BulkItemResult]:
        """Apply reports in order, a few statements for the whole batch (``found``: the
        reports' messages by id, already read and locked in this transaction)."""
        plan = self._plan(tx, account_id, items, found)
        _write_plan(tx, plan)
        if plan.provided:
            self._claim_unmatched(tx, account_id, plan.provided)
        return plan.results

    def _plan(
        self,
        tx: Transaction,
        account_id: str,
        items: Sequence[_Item],
        found: dict[str, Message] | None = None,
    ) -> _Plan:
        """Read the reports' messages and the account's endpoints, and work out what the
        reports change (nothing is written here).

        A message reported twice in one batch sees its first report applied before the second.
        """
        now = self.clock()
        if found is None:
            found = tx.messages_for_update(account_id, (report.message_id for report, _ in items))
        endpoints = tx.fanout_endpoints(account_id)
        plan = _Plan(
            versions={report.message_id: None for report, _ in items}
            | {message.id: records.message_version(message) for message in found.values()},
            endpoints=endpoints,
        )
        for report, detail in items:
            message = found.get(report.message_id)
            provided = message is not None and _provides(message, report)
            if provided:
                assert message is not None
                message = messages.evolve(
                    message,
                    provider=report.provider,
                    provider_message_id=report.provider_message_id,
                )
            item = self._apply_one(message, report, now)
            plan.results.append(item)
            if item.result is None:
                continue
            if provided:
                found[item.message_id] = item.result.message
                plan.provided.append(item.result.message)
            if not item.result.changed:
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

    # -- inbound SMS and suppressions ------------------------------------------------------

    def new_inbound_sms(
        self, account_id: str, *, sender: str, to: str, text: str, received_at: datetime | None
    ) -> InboundSms:
        """A received text, its sender checked (E.164); ``received_at`` defaults to now."""
        _check_e164("from", sender)
        now = self.clock()
        return inbound.new_inbound_sms(
            account_id=account_id,
            sender=sender,
            to=to,
            text=text,
            received_at=received_at or now,
            now=now,
        )

    async def receive_inbound_sms(
        self, received: InboundSms, *, idempotency: Key | None = None
    ) -> InboundResult:
        """Take in one received text, however it arrived (the API, a provider connector).

        It emits the inbound events. An opt-out keyword also puts the sender on the account's
        suppression list and, if it was not on it, emits the opt-out event; an opt-in keyword
        takes the sender off it. All in one transaction.
        """
        now = self.clock()
        events = self._render_inbound(received, InboundStatus.INBOUND, now)

        def work(tx: Transaction) -> InboundResult:
            found = inbound.keyword_action(received.text, tx.sms_keywords(received.account_id))
            action, keyword = found if found is not None else (None, None)
            emitted = list(events)
            if action is KeywordAction.OPT_OUT and keyword is not None:
                if tx.add_suppression(_keyword_suppression(received, keyword, now)):
                    emitted += self._render_inbound(received, InboundStatus.OPT_OUT, now)
            elif action is KeywordAction.OPT_IN:
                tx.remove_suppression(received.account_id, received.sender)
            _fan_out(tx, emitted)
            return InboundResult(
                sms=received,
                action=action,
                keyword=keyword,
                suppressed=tx.is_suppressed(received.account_id, received.sender),
                events=tuple(emitted),
            )

        return await self._write(work, idempotency)

    def _render_inbound(
        self, received: InboundSms, status: InboundStatus, now: datetime
    ) -> list[Event]:
        """The events an inbound text emits for ``status`` (not part of any message's order)."""
        events: list[Event] = []
        for event_type in catalog.emitted_on(status):
            event_id = ids.new_id("evt", now.timestamp())
            body = catalog.render_inbound(
                event_type,
                received,
                event_id=event_id,
                now=now,
                public_base_url=self.settings.public_base_url,
            )
            events.append(
                _event(event_id, received.account_id, None, event_type.name, status, body, 0, now)
            )
        return events

    async def add_suppression(
        self, account_id: str, phone_number: str, *, idempotency: Key | None = None
    ) -> tuple[Suppression, bool]:
        """Put a number on the account's suppression list by hand: the entry, and whether it
        is new (an entry already there is kept as it was)."""
        _check_e164("phone_number", phone_number)
        suppression = Suppression(
            account_id=account_id, phone_number=phone_number, source="api", created_at=self.clock()
        )

        def work(tx: Transaction) -> tuple[Suppression, bool]:
            added = tx.add_suppression(suppression)
            return tx.get_suppression(account_id, phone_number), added

        return await self._write(work, idempotency)

    async def remove_suppression(self, account_id: str, phone_number: str) -> None:
        """Take a number off the list (the account may send to it again).

        Raises:
            NotFoundError: the number is not on the list.
        """

        def work(tx: Transaction) -> None:
            if not tx.remove_suppression(account_id, phone_number):
                raise exceptions.NotFoundError(f"{phone_number} is not on the suppression list")

        await self._write(work)

    async def get_suppression(self, account_id: str, phone_number: str) -> Suppression:
        return await self.store.read(lambda tx: tx.get_suppression(account_id, phone_number))

    async def sms_keywords(self, account_id: str) -> Keywords:
        return await self.store.read(lambda tx: tx.sms_keywords(account_id))

    async def set_sms_keywords(
        self, account_id: str, *, opt_out: Sequence[str], opt_in: Sequence[str]
    ) -> Keywords:
        """Replace the account's opt-out and opt-in keywords (checked: ``inbound.new_keywords``)."""
        keywords = inbound.new_keywords(opt_out, opt_in)
        now = self.clock()

        def work(tx: Transaction) -> Keywords:
            tx.set_sms_keywords(account_id, keywords, now)
            return keywords

        return await self._write(work)

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
                _event(
                    event_id,
                    message.account_id,
                    message.id,
                    event_type.name,
                    status,
                    body,
                    sequence,
                    now,
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
        status = kind.inbound or (
            None if kind.channel is None else MessageStatus(_example_status(body))
        )
        event = _event(event_id, account_id, None, kind.name, status, body, 0, now)

        def work(tx: Transaction) -> Delivery:
            endpoint = tx.get_endpoint(account_id, endpoint_id)
            if endpoint.state in REFUSING_STATES:
                raise exceptions.ConflictError(f"endpoint {endpoint_id} is {endpoint.state.value}")
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
    #: Messages the reports gave a provider id, as they stand after the batch's reports.
    provided: list[Message] = field(default_factory=list)


def _fan_out(tx: Transaction, events: Sequence[Event]) -> None:
    """Store each event once and queue a delivery to every endpoint that wants it."""
    deliveries: list[Delivery] = []
    for event in events:
        deliveries.extend(_deliveries_of([event], tx.fanout_endpoints(event.account_id)))
    tx.insert_events(events)
    tx.insert_deliveries(deliveries)


def _keyword_suppression(received: InboundSms, keyword: str, now: datetime) -> Suppression:
    return Suppression(
        account_id=received.account_id,
        phone_number=received.sender,
        source="keyword",
        keyword=keyword,
        created_at=now,
    )


def _still_holds(tx: Transaction, account_id: str, plan: _Plan) -> bool:
    """Whether the messages and endpoints ``plan`` was made from are as they were read."""
    if tx.message_versions(account_id, plan.versions) != plan.versions:
        return False
    return tx.fanout_endpoints(account_id) == plan.endpoints


def _write_plan(tx: Transaction, plan: _Plan) -> None:
    if plan.provided:
        latest = {message.id: message for message in plan.provided}
        for message_id, message in plan.changed.items():
            if message_id in latest:
                latest[message_id] = message
        plan.provided[:] = latest.values()
        tx.set_provider_ids(
            [(m.provider or "", m.provider_message_id or "", m.id) for m in latest.values()]
        )
    tx.update_statuses(plan.changed.values())
    tx.insert_statuses(plan.history)
    tx.insert_events(plan.events)
    tx.insert_deliveries(plan.deliveries)


def _check_provider(provider: str | None, provider_message_id: str | None) -> None:
    """A provider's id comes with the provider's name, one of the known ones."""
    if (provider is None) != (provider_message_id is None):
        raise _invalid("provider", "give provider and provider_message_id together")
    if provider is not None:
        connectors.get(provider)


def _provides(message: Message, report: StatusReport) -> bool:
    """Whether ``report`` gives ``message`` a provider id it does not carry yet."""
    return report.provider_message_id is not None and (
        message.provider != report.provider
        or message.provider_message_id != report.provider_message_id
    )


def _latest(message: Message, results: Sequence[BulkItemResult]) -> Message:
    """``message`` as the last of ``results`` left it."""
    for item in results:
        if item.result is not None:
            message = item.result.message
    return message


def _fit(status: MessageStatus, channel: Channel) -> MessageStatus:
    """A receipt's status as the message's channel has it: an email the provider could not
    deliver is ``failed`` (email has no ``undelivered``)."""
    if status not in messages.CHANNEL_STATUSES[channel] and status is MessageStatus.UNDELIVERED:
        return MessageStatus.FAILED
    return status


def _receipt_detail(
    provider: str, connector_id: str, provider_message_id: str, raw_status: str
) -> dict[str, Any]:
    """The status history's record of a receipt, in the provider's own words."""
    return {
        "provider": provider,
        "connector_id": connector_id,
        "provider_message_id": provider_message_id,
        "raw_status": raw_status,
    }


def _unmatched(
    connector: Connector, receipt: connector_base.Receipt, now: datetime
) -> UnmatchedReceipt:
    assert receipt.status is not None
    return UnmatchedReceipt(
        id=ids.new_id("urc", now.timestamp()),
        account_id=connector.account_id,
        connector_id=connector.id,
        provider=connector.provider,
        provider_message_id=receipt.provider_message_id,
        status=receipt.status,
        raw_status=receipt.raw_status[:100],
        error_code=receipt.error_code,
        error_message=receipt.error_message,
        occurred_at=receipt.occurred_at,
        received_at=now,
        fingerprint=fingerprint(
            connector.provider,
            receipt.provider_message_id,
            receipt.raw_status,
            receipt.error_code,
            receipt.occurred_at,
        ),
    )


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


def _event(
    event_id: str,
    account_id: str,
    message_id: str | None,
    type_name: str,
    status: EventStatus | None,
    body: Mapping[str, Any],
    sequence: int,
    now: datetime,
) -> Event:
    """A rendered event, its payload serialized once, with the ``traceparent`` of the request
    that caused it (tracing on)."""
    return Event(
        id=event_id,
        account_id=account_id,
        message_id=message_id,
        type=type_name,
        status=status,
        payload=orjson.dumps(body),
        sequence=sequence,
        created_at=now,
        traceparent=tracing.current_traceparent(),
    )


def _provider_key(connector: Connector, message: connector_base.InboundMessage) -> Key:
    """The idempotency key of an inbound message a connector received: its provider's id,
    so that a provider's retry is a replay."""
    digest = hashlib.sha256(f"{message.sender}\n{message.to}\n{message.text}".encode()).hexdigest()
    return Key(
        scope=connector.account_id,
        key=f"connector:{connector.id}:inbound:{message.provider_message_id}"[:255],
        request_hash=digest,
        status_code=200,
        answer=lambda _result: b"",
    )


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


def _check_e164(field_name: str, number: str) -> None:
    if not sms.E164_PATTERN.match(number):
        raise _invalid(field_name, "must be an E.164 number: + then up to 15 digits")


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


def _pending_if_unverified(endpoint: Endpoint) -> Endpoint:
    """An endpoint that would receive deliveries before passing its verification is
    ``pending`` instead; a pending one that no longer needs verifying is active."""
    if endpoint.needs_verification and endpoint.state is not EndpointState.DISABLED:
        return dataclasses.replace(endpoint, state=EndpointState.PENDING)
    if endpoint.state is EndpointState.PENDING and not endpoint.needs_verification:
        return dataclasses.replace(endpoint, state=EndpointState.ACTIVE)
    return endpoint


def _with_verification_kept(current: Endpoint, updated: Endpoint) -> Endpoint:
    """``updated`` with its verification undone if its URL or mode changed (it must be
    verified again)."""
    if (updated.url, updated.verification) == (current.url, current.verification):
        return updated
    return dataclasses.replace(
        updated, verified_at=None, verified_origin=None, verification_error=None
    )


def _verified(
    endpoint: Endpoint, verdict: verification.Verdict, origin: str, now: datetime
) -> Endpoint:
    """The endpoint after a verification's ``verdict``."""
    if not verdict.granted:
        return dataclasses.replace(
            endpoint,
            state=EndpointState.PENDING,
            verified_at=None,
            verified_origin=None,
            verification_error=verdict.error,
            updated_at=now,
        )
    granted = dataclasses.replace(
        endpoint,
        state=EndpointState.PAUSED
        if endpoint.state is EndpointState.PAUSED
        else EndpointState.ACTIVE,
        verified_at=now,
        verification_error=None,
        verified_origin=origin if endpoint.verification is Verification.CLOUDEVENTS else None,
        updated_at=now,
    )
    if verdict.sets_rate:
        granted = dataclasses.replace(granted, rate_limit=verdict.rate_limit)
    return granted


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
