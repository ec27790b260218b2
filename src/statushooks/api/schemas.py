"""Request and response bodies: snake_case, inputs refuse unknown fields.

Every constraint a request body is held to is in its JSON Schema too (the OpenAPI document is
made from these models): a request valid per the document is never refused with a 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from statushooks import accounts, endpoints, service, signing, sms
from statushooks.deliveries import DeliveryState, Event
from statushooks.endpoints import Endpoint, EndpointSecret, EndpointState
from statushooks.events import catalog
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import transaction as sql
from statushooks.storage.stats import EndpointStats

T = TypeVar("T")
R = TypeVar("R")
MAX_METADATA_BYTES = 16 * 1024
#: The most names an endpoint's ``enabled_events`` or ``statuses`` filter may list.
MAX_FILTER_ITEMS = 100

# Patterns are written once for every regex engine that reads them (Python's ``re``,
# pydantic's Rust ``regex``, ECMA-262 in clients): no ``\s`` or ``\d``, whose meanings differ.
#: Any text without a NUL character (``Input`` refuses them: PostgreSQL cannot store them).
NUL_FREE_PATTERN = r"^[^\x00]*$"
#: Whitespace and control characters (every one ``str.isspace()`` or ECMA-262 ``\s`` matches).
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = re.compile(rf"^[^@{_BLANK}]+@[^@{_BLANK}]+\.[^@{_BLANK}]+$")


def _url_pattern() -> str:
    """An http(s) URL with a host name, an IPv4 address or an IPv6 one (RFC 3986), an optional
    port (1–65535), and any path, query and fragment without blanks or backslashes."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ipv4 = rf"{octet}(?:\.{octet}){{3}}"
    ls32 = rf"(?:{h16}:{h16}|{ipv4})"
    tails = [rf"(?:{h16}:){{{4 - n}}}{ls32}" for n in range(5)] + [h16, ""]
    ipv6 = "|".join(
        [rf"(?:{h16}:){{6}}{ls32}", rf"::(?:{h16}:){{5}}{ls32}"]
        + [rf"(?:(?:{h16}:){{0,{n}}}{h16})?::{tail}" for n, tail in enumerate(tails)]
    )
    label = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    # The last label starts with a letter: one that looks numeric would be read as IPv4.
    name = rf"(?:{label}\.)*[A-Za-z](?:[A-Za-z0-9_-]{{0,61}}[A-Za-z0-9_])?\.?"
    port = (
        "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
    )
    rest = rf"[/?#][^{_BLANK}\\]*"
    return rf"^https?://(?:{name}|{ipv4}|\[(?:{ipv6})\])(?::{port})?(?:{rest})?$"


URL_PATTERN = _url_pattern()
_URL = re.compile(URL_PATTERN)
#: RFC 3339 with an offset, years 1000–8999 (so that no offset moves it out of range), at
#: most microseconds.
TIME_PATTERN = (
    r"^[1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_TIME = re.compile(TIME_PATTERN)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _TIME.match(value):
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2025-06-30T12:08:43Z")
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: An RFC 3339 time with an offset, normalised to UTC.
UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
]


def _integral(value: Any) -> Any:
    """``5.0`` as ``5``: JSON Schema's ``integer`` takes it (and no ``"5"`` or ``true``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A phone number: E.164 and valid where it belongs (``sms.region_code`` checks it).
PhoneNumber = Annotated[
    str,
    Field(
        max_length=16,
        description="An E.164 number, e.g. +447810000001, valid in its country's numbering "
        "plan (libphonenumber; format `e164`): a number of the right shape that is not "
        "allocated there is refused",
        json_schema_extra={"pattern": sms.E164_PATTERN.pattern, "format": "e164"},
    ),
]


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    """Refuse text ``pattern`` does not match, with ``message`` (not the pattern itself)."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


Email = Annotated[
    str,
    Field(
        max_length=320,
        description="An email address: local part, @, and a domain with a dot",
        json_schema_extra={"pattern": EMAIL_PATTERN.pattern},
    ),
    _matching(EMAIL_PATTERN, "must be an email address"),
]
#: An endpoint's URL (``urlguard`` also refuses private and metadata addresses).
EndpointUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="An http(s) URL. Without STATUSHOOKS_ALLOW_PRIVATE_URLS, URLs whose host is "
        "or resolves to a loopback, private, link-local or otherwise non-public address are "
        "refused; cloud metadata hosts always are",
        json_schema_extra={"pattern": URL_PATTERN},
    ),
    _matching(
        _URL,
        "must be an http(s) URL with a host name or an IP address, an optional port, and no "
        "spaces or backslashes",
    ),
]
EventTypeName = Annotated[
    str,
    Field(
        description="An event type's name (`GET /v1/event-types`)",
        json_schema_extra={"enum": [event_type.name for event_type in catalog.all_types()]},
    ),
]
NulFreeStr = Annotated[str, WithJsonSchema({"type": "string", "pattern": NUL_FREE_PATTERN})]


class _NulFreeKeys:
    """JSON Schema: an object's keys hold no NUL character either."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["propertyNames"] = {"pattern": NUL_FREE_PATTERN}
        return schema


#: Any JSON value whose strings (and keys) hold no NUL character.
MetadataValue = TypeAliasType(
    "MetadataValue",
    "NulFreeStr | int | float | bool | list[MetadataValue] | MetadataObject | None",
)
MetadataObject = Annotated[dict[str, MetadataValue], _NulFreeKeys()]


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(key) or _has_nul(value) for key, value in data.items())
    if isinstance(data, list):
        return any(_has_nul(item) for item in data)
    return False


def _nul_free(schema: dict[str, Any]) -> None:
    """Give every string of ``schema`` without a pattern of its own the NUL-free one."""
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = NUL_FREE_PATTERN
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            _nul_free(sub)
    for sub in schema.get("properties", {}).values():
        _nul_free(sub)
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(schema.get(key), dict):
            _nul_free(schema[key])


def _input_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    _nul_free(schema)
    if getattr(model, "PARTIAL", False):
        for sub in schema.get("properties", {}).values():
            sub.pop("default", None)
    schema.update(getattr(model, "EXTRA_SCHEMA", {}))


class Input(BaseModel):
    """A request body: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=_input_schema
    )
    #: More JSON Schema of the model's own (a rule across fields).
    EXTRA_SCHEMA: ClassVar[dict[str, Any]] = {}
    #: Fields left out are left as they are (PATCH): the schema shows no defaults.
    PARTIAL: ClassVar[bool] = False

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

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        """``MessageOutPage``, not ``Page[MessageOut]``: the name generated clients use."""
        return f"{params[0].__name__}Page"


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

#: A Standard Webhooks signature version (``endpoints.SIGNATURE_VERSIONS``).
SignatureVersion = Literal["v1", "v1a"]


def _default_signature_versions() -> list[SignatureVersion]:
    return ["v1"]


class EndpointFields(Input):
    description: str = Field(default="", max_length=2000)
    enabled_events: list[EventTypeName] = Field(
        default_factory=list,
        max_length=MAX_FILTER_ITEMS,
        description="Only these event types are delivered (none listed: every type)",
    )
    statuses: list[MessageStatus] = Field(
        default_factory=list,
        max_length=MAX_FILTER_ITEMS,
        description="Only events of these statuses are delivered (none listed: every status)",
    )
    status: EndpointState = EndpointState.ACTIVE
    max_in_flight: Annotated[int, Field(ge=1, le=1000, strict=True), BeforeValidator(_integral)] = (
        10
    )
    rate_limit: Annotated[float, Field(gt=0, le=10_000, strict=True)] | None = None
    ordered: StrictBool = True
    metadata: MetadataObject = Field(
        default_factory=dict,
        description=f"Yours to keep: any JSON object of at most {MAX_METADATA_BYTES} bytes",
    )
    signature_versions: list[SignatureVersion] = Field(
        default_factory=_default_signature_versions,
        min_length=1,
        max_length=2,
        json_schema_extra={"uniqueItems": True},
        description="Standard Webhooks signatures sent: v1 (HMAC-SHA256 with a shared whsec_ "
        "secret), v1a (Ed25519: verify with the whpk_ public key), or both",
    )

    @field_validator("signature_versions")
    @classmethod
    def _distinct_versions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each version at most once")
        return value

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
    url: EndpointUrl

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
            signature_versions=tuple(self.signature_versions),
        )


NOT_NULLABLE = (
    "url",
    "description",
    "enabled_events",
    "statuses",
    "status",
    "max_in_flight",
    "signature_versions",
)


class EndpointUpdate(EndpointFields):
    """Only the fields given change; ``rate_limit: null`` removes the limit."""

    PARTIAL: ClassVar[bool] = True
    url: EndpointUrl | SkipJsonSchema[None] = None

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
            elif name in ("enabled_events", "statuses", "signature_versions"):
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
    signature_versions: list[SignatureVersion]
    failing_since: datetime | None
    #: Until when the dispatcher leaves it alone after a burst of failures (null: it is not
    #: suspended); it resumes by itself then.
    suspended_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls(**_endpoint_fields(endpoint))


class EndpointWithSecret(EndpointOut):
    #: The current ``v1`` signing secret (``whsec_…``; None when not signed with v1).
    secret: str | None
    #: The current ``v1a`` public key (``whpk_…``; None when not signed with v1a).
    public_key: str | None

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointWithSecret:
        current = secret_out(endpoint)
        return cls(
            **_endpoint_fields(endpoint), secret=current.secret, public_key=current.public_key
        )


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
        "signature_versions": list(endpoint.signature_versions),
        "failing_since": endpoint.failing_since,
        "suspended_until": endpoint.suspended_at(datetime.now(UTC)),
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


class PreviousSecret(Output):
    secret: str
    expires_at: datetime | None


class PreviousPublicKey(Output):
    public_key: str
    expires_at: datetime | None


class SecretOut(Output):
    #: The current ``v1`` secret (``whsec_…``), None when the endpoint is not signed with v1.
    secret: str | None
    #: Older ``v1`` secrets still signing alongside (after a rotation), with when they stop.
    previous: list[PreviousSecret]
    #: The public key (``whpk_…``) of the current ``v1a`` secret key (which is never shown),
    #: None when the endpoint is not signed with v1a.
    public_key: str | None
    #: The public keys of older ``v1a`` keys still signing alongside, with when they stop.
    previous_public_keys: list[PreviousPublicKey]


def secret_out(endpoint: Endpoint) -> SecretOut:
    hmac_current, hmac_older = _current_and_older(endpoint, endpoints.HMAC)
    ed_current, ed_older = _current_and_older(endpoint, endpoints.ED25519)
    return SecretOut(
        secret=hmac_current.value if hmac_current else None,
        previous=[PreviousSecret(secret=s.value, expires_at=s.expires_at) for s in hmac_older],
        public_key=signing.public_key_of(ed_current.value) if ed_current else None,
        previous_public_keys=[
            PreviousPublicKey(public_key=signing.public_key_of(s.value), expires_at=s.expires_at)
            for s in ed_older
        ],
    )


def _current_and_older(
    endpoint: Endpoint, version: str
) -> tuple[EndpointSecret | None, list[EndpointSecret]]:
    """The endpoint's current secret of a version (None if it does not sign with it), and the
    others of that version."""
    of_version = list(endpoint.secrets_of(version))
    if version not in endpoint.signature_versions:
        return None, of_version
    return of_version[0], of_version[1:]


class EndpointTest(Input):
    event_type: EventTypeName

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _check_event_types([value])[0]


class Recover(Input):
    """The window ``[since, until)``; one that is empty (``until`` not after ``since``)
    requeues nothing."""

    since: UtcDatetime
    until: UtcDatetime | None = Field(default=None, description="Now when null or left out")


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
    to: PhoneNumber
    sender: str = Field(alias="from", min_length=1, max_length=320)
    text: str = Field(min_length=1, max_length=10_000)
    custom_id: str | None = Field(default=None, max_length=200)
    correlation_id: str | None = Field(default=None, max_length=200)
    scheduled_at: UtcDatetime | None = None
    list_id: str | None = Field(default=None, max_length=200)
    campaign_id: str | None = Field(default=None, max_length=200)
    campaign_name: str | None = Field(default=None, max_length=200)
    track_links: StrictBool = False


class EmailCreate(Input):
    """Give ``text``, ``html`` or both."""

    EXTRA_SCHEMA: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"required": [name], "properties": {name: {"type": "string"}}}
            for name in ("text", "html")
        ]
    }

    to: Email
    sender: Email = Field(alias="from")
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, max_length=1_000_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    external_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _has_body(self) -> EmailCreate:
        if self.text is None and self.html is None:
            raise ValueError("give text or html (or both)")
        return self


class VoiceCreate(Input):
    to: PhoneNumber
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
    #: The message status it reports (null for an operational event).
    status: MessageStatus | None
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
    #: The channel of the messages it is about (null for an operational event).
    channel: Channel | None
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
