"""Request and response bodies: snake_case, inputs refuse unknown fields."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from statushooks import accounts, service
from statushooks.deliveries import DeliveryState, Event
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.events import catalog
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import transaction as sql
from statushooks.storage.stats import EndpointStats

T = TypeVar("T")
R = TypeVar("R")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_METADATA_BYTES = 16 * 1024


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the time is out of range") from None


#: An RFC 3339 time with an offset, normalised to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(key) or _has_nul(value) for key, value in data.items())
    if isinstance(data, list):
        return any(_has_nul(item) for item in data)
    return False


class Input(BaseModel):
    """A request body: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data


class Output(BaseModel):
    """A response body; ``Model.model_validate(record)`` reads a record's same-named fields."""

    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


class Page(Output, Generic[T]):
    """One page of a list, newest first. Pass ``next_cursor`` as ``?after=`` for the next."""

    data: list[T]
    next_cursor: str | None


def page_of(page: sql.Page[R], convert: Callable[[R], T]) -> Page[T]:
    """A stored page with each record converted for the response."""
    return Page(data=[convert(record) for record in page.data], next_cursor=page.next_cursor)


def _check_event_types(names: list[str]) -> list[str]:
    known = {event_type.name for event_type in catalog.all_types()}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown event type {unknown[0]!r}; must be one of: {', '.join(sorted(known))}"
        )
    return names


# -- accounts ------------------------------------------------------------------------------


class AccountCreate(Input):
    name: str = Field(min_length=1, max_length=200)


class AccountCreated(Output):
    id: str
    name: str
    created_at: datetime
    api_key_id: str
    #: Shown once.
    api_key: str

    @classmethod
    def of(cls, new: service.NewAccount) -> AccountCreated:
        return cls(
            id=new.account.id,
            name=new.account.name,
            created_at=new.account.created_at,
            api_key_id=new.api_key_id,
            api_key=new.api_key,
        )


class ApiKeyCreated(Output):
    id: str
    account_id: str
    #: Shown once.
    api_key: str
    prefix: str


def api_key_created(account_id: str, key_id: str, plaintext: str) -> ApiKeyCreated:
    return ApiKeyCreated(
        id=key_id,
        account_id=account_id,
        api_key=plaintext,
        prefix=accounts.display_prefix(plaintext),
    )


# -- endpoints -----------------------------------------------------------------------------


class EndpointFields(Input):
    description: str = Field(default="", max_length=2000)
    enabled_events: list[str] = Field(default_factory=list, max_length=100)
    statuses: list[MessageStatus] = Field(default_factory=list)
    status: EndpointState = EndpointState.ACTIVE
    max_in_flight: int = Field(default=10, ge=1, le=1000)
    rate_limit: float | None = Field(default=None, gt=0, le=10_000)
    ordered: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("enabled_events")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        return _check_event_types(value)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, allow_nan=False))
        except ValueError:
            raise ValueError("numbers must be finite") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"at most {MAX_METADATA_BYTES} bytes of JSON")
        return value


class EndpointCreate(EndpointFields):
    url: str = Field(min_length=1, max_length=2048)

    def spec(self) -> service.EndpointSpec:
        return service.EndpointSpec(
            url=self.url,
            description=self.description,
            enabled_events=tuple(self.enabled_events),
            statuses=tuple(self.statuses),
            state=self.status,
            max_in_flight=self.max_in_flight,
            rate_limit=self.rate_limit,
            ordered=self.ordered,
            metadata=self.metadata,
        )


NOT_NULLABLE = ("url", "description", "enabled_events", "statuses", "status", "max_in_flight")


class EndpointUpdate(EndpointFields):
    """Only the fields given change; ``rate_limit: null`` removes the limit."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in (*NOT_NULLABLE, "ordered", "metadata"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} may not be null")
        return data

    def changes(self) -> dict[str, Any]:
        """The ``EndpointSpec`` fields this update sets."""
        changes: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "status":
                changes["state"] = value
            elif name in ("enabled_events", "statuses"):
                changes[name] = tuple(value)
            else:
                changes[name] = value
        return changes


class EndpointOut(Output):
    id: str
    url: str
    description: str
    enabled_events: list[str]
    statuses: list[MessageStatus]
    status: EndpointState
    disabled_reason: str | None
    max_in_flight: int
    rate_limit: float | None
    ordered: bool
    metadata: dict[str, Any]
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls(**_endpoint_fields(endpoint))


class EndpointWithSecret(EndpointOut):
    #: The current signing secret (``whsec_…``); verify with it.
    secret: str

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointWithSecret:
        return cls(**_endpoint_fields(endpoint), secret=endpoint.secrets[0].value)


def _endpoint_fields(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "statuses": list(endpoint.statuses),
        "status": endpoint.state,
        "disabled_reason": endpoint.disabled_reason,
        "max_in_flight": endpoint.max_in_flight,
        "rate_limit": endpoint.rate_limit,
        "ordered": endpoint.ordered,
        "metadata": dict(endpoint.metadata),
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


class PreviousSecret(Output):
    secret: str
    expires_at: datetime | None


class SecretOut(Output):
    secret: str
    #: Older secrets still signing alongside (after a rotation), with when they stop.
    previous: list[PreviousSecret]


def secret_out(endpoint: Endpoint) -> SecretOut:
    current, *older = endpoint.secrets
    return SecretOut(
        secret=current.value,
        previous=[PreviousSecret(secret=s.value, expires_at=s.expires_at) for s in older],
    )


class EndpointTest(Input):
    event_type: str

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _check_event_types([value])[0]


class Recover(Input):
    since: UtcDatetime
    until: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Recover:
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class Recovered(Output):
    endpoint_id: str
    #: How many failed deliveries were queued again.
    requeued: int


class LatencyOut(Output):
    p50_ms: float | None
    p95_ms: float | None


class EndpointStatsOut(Output):
    endpoint_id: str
    #: Attempts counted from this time on (``?window=``, default the last 24 h).
    since: datetime
    attempts: int
    successful_attempts: int
    success_rate: float | None
    latency: LatencyOut
    #: Deliveries pending or in flight.
    backlog: int
    #: Every delivery of the endpoint by state.
    deliveries: dict[str, int]

    @classmethod
    def of(cls, stats: EndpointStats) -> EndpointStatsOut:
        return cls(
            endpoint_id=stats.endpoint_id,
            since=stats.since,
            attempts=stats.attempts,
            successful_attempts=stats.successful_attempts,
            success_rate=stats.success_rate,
            latency=LatencyOut(p50_ms=stats.p50_latency_ms, p95_ms=stats.p95_latency_ms),
            backlog=stats.backlog,
            deliveries=stats.deliveries,
        )


# -- messages ------------------------------------------------------------------------------


class SmsCreate(Input):
    to: str = Field(max_length=32, description="E.164 number, e.g. +447810000001")
    sender: str = Field(alias="from", min_length=1, max_length=320)
    text: str = Field(min_length=1, max_length=10_000)
    custom_id: str | None = Field(default=None, max_length=200)
    correlation_id: str | None = Field(default=None, max_length=200)
    scheduled_at: UtcDatetime | None = None
    list_id: str | None = Field(default=None, max_length=200)
    campaign_id: str | None = Field(default=None, max_length=200)
    campaign_name: str | None = Field(default=None, max_length=200)
    track_links: bool = False


class EmailCreate(Input):
    to: str = Field(max_length=320)
    sender: str = Field(alias="from", max_length=320)
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, max_length=1_000_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    external_id: str | None = Field(default=None, max_length=200)

    @field_validator("to", "sender")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL_PATTERN.match(value):
            raise ValueError("must be an email address")
        return value

    @model_validator(mode="after")
    def _has_body(self) -> EmailCreate:
        if self.text is None and self.html is None:
            raise ValueError("give text or html (or both)")
        return self


class VoiceCreate(Input):
    to: str = Field(max_length=32, description="E.164 number, e.g. +447810000001")
    verification_code: str = Field(pattern=r"^[0-9A-Za-z]{1,32}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    external_id: str | None = Field(default=None, max_length=200)


class StatusRecordOut(Output):
    status: MessageStatus
    occurred_at: datetime
    recorded_at: datetime
    error_code: str | None
    error_message: str | None
    detail: dict[str, Any] | None


class EventSummary(Output):
    id: str
    type: str
    status: MessageStatus
    sequence: int
    created_at: datetime


class MessageOut(Output):
    id: str
    channel: Channel
    status: MessageStatus
    to: str
    sender: str | None = Field(serialization_alias="from")
    text: str | None
    html: str | None
    subject: str | None
    verification_code: str | None
    language: str | None
    #: The caller's reference: ``custom_id`` on an SMS, ``external_id`` on email and voice.
    custom_id: str | None
    external_id: str | None
    correlation_id: str | None
    transaction_id: str
    scheduled_at: datetime | None
    list_id: str | None
    campaign_id: str | None
    campaign_name: str | None
    error_code: str | None
    error_message: str | None
    segments: int
    region_code: str | None
    price: float | None
    currency: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(**_message_fields(message))


def _message_fields(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "channel": message.channel,
        "status": message.status,
        "to": message.to,
        "sender": message.sender,
        "text": message.text,
        "html": message.html,
        "subject": message.subject,
        "verification_code": message.verification_code,
        "language": message.language,
        "custom_id": message.custom_id,
        "external_id": message.custom_id,
        "correlation_id": message.correlation_id,
        "transaction_id": message.transaction_id,
        "scheduled_at": message.scheduled_at,
        "list_id": message.list_id,
        "campaign_id": message.campaign_id,
        "campaign_name": message.campaign_name,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "segments": message.segments,
        "region_code": message.region_code,
        "price": float(message.price) if message.price is not None else None,
        "currency": message.currency,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


class MessageDetail(MessageOut):
    history: list[StatusRecordOut]
    events: list[EventSummary]

    @classmethod
    def detail(
        cls, message: Message, history: list[sql.StatusRecord], events: list[Event]
    ) -> MessageDetail:
        return cls(
            **_message_fields(message),
            history=[StatusRecordOut.model_validate(record) for record in history],
            events=[EventSummary.model_validate(event) for event in events],
        )


# -- status reports ------------------------------------------------------------------------


class StatusReportIn(Input):
    status: MessageStatus
    error_code: str | None = Field(default=None, max_length=200)
    error_message: str | None = Field(default=None, max_length=2000)
    occurred_at: UtcDatetime | None = None

    def report(self, message_id: str) -> service.StatusReport:
        return service.StatusReport(
            message_id=message_id,
            status=self.status,
            error_code=self.error_code,
            error_message=self.error_message,
            occurred_at=self.occurred_at,
        )


class BulkReportItem(StatusReportIn):
    message_id: str = Field(min_length=1, max_length=64)


class BulkReports(Input):
    reports: list[BulkReportItem] = Field(min_length=1, max_length=service.MAX_BULK_REPORTS)


class StatusResultOut(Output):
    message: MessageOut
    #: False for a late or duplicate report: nothing was stored or emitted.
    changed: bool
    #: Ids of the events the report emitted.
    events: list[str]

    @classmethod
    def of(cls, result: service.StatusResult) -> StatusResultOut:
        return cls(
            message=MessageOut.of(result.message),
            changed=result.changed,
            events=[event.id for event in result.events],
        )


class ItemProblem(Output):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]


class BulkItemOut(Output):
    message_id: str
    #: True when the report was applied (even if it changed nothing).
    ok: bool
    changed: bool
    events: list[str]
    #: Why the item was refused (a problem document), or null.
    error: ItemProblem | None


class BulkResultOut(Output):
    results: list[BulkItemOut]


# -- events, deliveries, attempts ----------------------------------------------------------


class EventOut(EventSummary):
    message_id: str | None
    #: The exact JSON every endpoint receives.
    payload: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        """The event with its stored payload bytes parsed."""
        summary = EventSummary.model_validate(event).model_dump()
        return cls(**summary, message_id=event.message_id, payload=json.loads(event.payload))


class DeliveryOut(Output):
    id: str
    event_id: str
    endpoint_id: str
    message_id: str | None
    event_type: str
    sequence: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_response_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class EventDetail(EventOut):
    deliveries: list[DeliveryOut]


class AttemptOut(Output):
    id: str
    delivery_id: str
    endpoint_id: str
    number: int
    started_at: datetime
    duration_ms: float
    request_headers: dict[str, str]
    response_status: int | None
    response_body: str
    error_kind: str | None
    error_message: str | None


class EventTypeOut(Output):
    name: str
    dialect: str
    channel: Channel
    description: str
    statuses: list[MessageStatus]
    #: JSON Schema (draft 2020-12) of the payload.
    json_schema: dict[str, Any] = Field(serialization_alias="schema")
    example: dict[str, Any]

    @classmethod
    def of(cls, event_type: catalog.EventType) -> EventTypeOut:
        return cls(
            name=event_type.name,
            dialect=event_type.dialect,
            channel=event_type.channel,
            description=event_type.description,
            statuses=sorted(event_type.statuses),
            json_schema=dict(event_type.schema),
            example=dict(event_type.example),
        )


class Health(Output):
    status: str
