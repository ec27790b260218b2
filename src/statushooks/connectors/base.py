"""What every provider adapter shares — pure: the request as received, the receipts parsed
from it, and the checks (constant-time comparison, basic auth, form bodies).

An adapter is a ``Provider``: ``verify`` raises ``SignatureError`` unless the request is signed
by the connector's credentials, and ``parse`` turns the verified request into ``Receipt``\\ s
(our status, the provider's own words kept beside it). Neither does I/O.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from statushooks import exceptions
from statushooks.messages import Channel, MessageStatus


@dataclass(frozen=True, kw_only=True)
class Callback:
    """One request a provider made to a connector's ``callback_url``."""

    method: str
    #: The URL as the provider called it: the connector's ``callback_url`` and the query.
    url: str
    #: Header names in lower case.
    headers: Mapping[str, str]
    body: bytes
    #: The query string's parameters (GET callbacks carry their fields there).
    query: Mapping[str, str] = field(default_factory=dict)
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @functools.cached_property
    def form_pairs(self) -> list[tuple[str, str]]:
        """The form body's fields in order, repeats kept (parsed once: the signature check and
        the parser both read them)."""
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """One delivery receipt: which message (by the provider's id) reached which status."""

    provider_message_id: str
    #: Our status, or None for a provider status that moves nothing (``queued``, an open…).
    status: MessageStatus | None
    #: The provider's own status word(s), kept in the status history.
    raw_status: str
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class InboundMessage:
    """A message a provider received for the account (inbound SMS), handed to
    ``Service.receive_inbound`` as it is."""

    provider_message_id: str
    sender: str
    to: str
    text: str
    received_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Parsed:
    """What one callback carried."""

    receipts: tuple[Receipt, ...] = ()
    inbound: tuple[InboundMessage, ...] = ()
    #: A URL the provider asks to be fetched to confirm a subscription (Amazon SNS).
    confirm_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Provider:
    """One provider's adapter."""

    name: str
    channels: frozenset[Channel]
    #: The credential fields a connector of this provider needs, and the optional ones.
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    verify: Callable[[Callback, Mapping[str, str]], None]
    parse: Callable[[Callback], Parsed]
    #: How to configure the provider (docs and the API's description).
    summary: str = ""

    def check_credentials(self, credentials: Mapping[str, str]) -> None:
        """Refuse credentials without a required field or with an unknown one."""
        missing = [name for name in self.required if not credentials.get(name)]
        unknown = sorted(set(credentials) - set(self.required) - set(self.optional))
        if missing or unknown:
            errors = [{"field": f"credentials.{n}", "message": "required"} for n in missing]
            errors += [{"field": f"credentials.{n}", "message": "unknown"} for n in unknown]
            wanted = ", ".join(self.required + self.optional)
            raise exceptions.ValidationError(
                f"{self.name} credentials take: {wanted}", errors=errors
            )


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two signatures (text compared as UTF-8)."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def require(value: str | None, what: str) -> str:
    """``value``, or ``SignatureMissingError`` naming ``what`` is missing."""
    if not value:
        raise exceptions.SignatureMissingError(f"no {what} on the callback")
    return value


def check(ok: bool, what: str) -> None:
    if not ok:
        raise exceptions.SignatureError(f"the {what} does not match the connector's credentials")


def hmac_digest(key: str, message: bytes, algorithm: str) -> bytes:
    return hmac.new(key.encode(), message, getattr(hashlib, algorithm)).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, what: str) -> bytes:
    """Base64 text as bytes; malformed text is a signature that cannot match."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.SignatureError(f"the {what} is not base64") from None


def verify_basic_auth(request: Callback, credentials: Mapping[str, str]) -> None:
    """HTTP basic auth against the connector's ``username`` and ``password``."""
    header = require(request.header("authorization"), "Authorization header (basic auth)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        raise exceptions.SignatureMissingError("the callback must use basic auth")
    decoded = unb64(token.strip(), "basic auth token").decode("utf-8", "replace")
    username, _, password = decoded.partition(":")
    user_ok = same(credentials["username"], username)
    password_ok = same(credentials["password"], password)
    check(user_ok and password_ok, "basic auth")


def form(request: Callback) -> dict[str, str]:
    """The callback's fields: a form body (first value of each), else its query string."""
    if request.body:
        return dict(request.form_pairs)
    return dict(request.query)


def json_body(request: Callback) -> Any:
    """The callback's JSON body; anything else is a validation error."""
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise exceptions.ValidationError("the callback body is not JSON") from None


def signed_json(request: Callback) -> Any:
    """The JSON body a signature is read from: a body that is not JSON carries none (401,
    not 422: a callback is authenticated before its format is judged)."""
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise exceptions.SignatureMissingError("no signature: the body is not JSON") from None


def records(data: Any, key: str | None = None) -> Sequence[Mapping[str, Any]]:
    """``data`` (or ``data[key]``) as a list of objects; a single object is a list of one."""
    if key is not None:
        data = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise exceptions.ValidationError("the callback body is not in the provider's format")
    return data


def text(value: Any) -> str | None:
    """A field as text (numbers too), None when absent or empty."""
    if value is None or value == "":
        return None
    return str(value)


def when(value: Any) -> datetime | None:
    """A provider's time: ISO 8601 text (``Z`` or an offset; naive is UTC) or Unix seconds."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and _numeric(value)):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
