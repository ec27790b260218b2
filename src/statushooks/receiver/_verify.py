"""Verify a webhook request's signature: Standard Webhooks v1 / v1a or the YCloud header."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from statushooks import signing
from statushooks.receiver import _events
from statushooks.receiver import _exceptions as errors

DEFAULT_TOLERANCE = 300  # seconds, in both directions
#: Digits a ``webhook-timestamp`` may have (unix seconds have 10 until the year 2286).
MAX_TIMESTAMP_DIGITS = 18
_STANDARD_HEADERS = (signing.HEADER_ID, signing.HEADER_TIMESTAMP, signing.HEADER_SIGNATURE)
_YCLOUD_HEADER = signing.YCLOUD_HEADER_SIGNATURE.lower()


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that ``body`` was signed by the sender with ``secret`` within ``tolerance``.

    The Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``) are used when present, else the ``YCloud-Signature`` header.
    Header names are case-insensitive. During a secret rotation pass every secret you accept:
    any signature made with any of them passes.

    A ``whsec_`` secret checks ``v1`` (HMAC) signatures; a ``whpk_`` public key checks ``v1a``
    (Ed25519) ones, which needs the ``cryptography`` package (the ``receiver-ed25519`` extra;
    it is imported only then).

    Args:
        body: the raw request body, exactly as received.
        headers: the request headers.
        secret: the endpoint secret (``whsec_…``) or public key (``whpk_…``), or several.
        tolerance: how many seconds the timestamp may be from ``now``, either way.
        now: the current unix time; defaults to ``time.time()``.

    Raises:
        WebhookVerificationError: one of its subclasses says why.
    """
    raw = _raw_body(body)
    secrets = _secrets(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    current = time.time() if now is None else now
    try:
        if any(name in lowered for name in _STANDARD_HEADERS):
            _verify_standard(raw, lowered, secrets, tolerance=tolerance, now=current)
        elif _YCLOUD_HEADER in lowered:
            _verify_ycloud(raw, lowered[_YCLOUD_HEADER], secrets, tolerance=tolerance, now=current)
        else:
            raise errors.MissingHeadersError(
                "no webhook-signature or YCloud-Signature header in the request"
            )
    except (ValueError, TypeError) as exc:  # every failure is a ReceiverError
        raise errors.InvalidHeadersError(f"the webhook headers cannot be read: {exc}") from exc


def verify_and_parse(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> _events.Event:
    """``verify`` the request, then ``parse`` its body.

    Raises:
        WebhookVerificationError: the request cannot be trusted.
        WebhookPayloadError: the body is not an event this SDK knows.
    """
    verify(body, headers, secret, tolerance=tolerance, now=now)
    return _events.parse(body)


def _raw_body(body: bytes | str) -> bytes:
    """The bytes that were signed; a ``str`` body is taken as their UTF-8 decoding."""
    if isinstance(body, bytes):
        return body
    try:
        return body.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate: no bytes were ever signed as this
        raise errors.InvalidSignatureError(
            "the body is not valid Unicode text: pass the raw request bytes"
        ) from exc


def _secrets(secret: str | Sequence[str]) -> tuple[str, ...]:
    secrets = (secret,) if isinstance(secret, str) else tuple(secret)
    if not secrets or not all(secrets):
        raise errors.InvalidSecretError("the webhook secret may not be empty")
    return secrets


def _verify_standard(
    body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, tolerance: int, now: float
) -> None:
    missing = [name for name in _STANDARD_HEADERS if not headers.get(name)]
    if missing:
        raise errors.MissingHeadersError(f"missing webhook headers: {', '.join(missing)}")
    timestamp = _parse_timestamp(headers[signing.HEADER_TIMESTAMP])
    _check_timestamp(timestamp, tolerance=tolerance, now=now)
    try:
        matched = signing.verify(
            msg_id=headers[signing.HEADER_ID],
            timestamp=timestamp,
            body=body,
            signature_header=headers[signing.HEADER_SIGNATURE],
            secrets=secrets,
        )
    except ValueError as exc:
        raise errors.InvalidSecretError(str(exc)) from exc
    except signing.MissingEd25519Error as exc:
        raise errors.Ed25519UnavailableError(str(exc)) from exc
    if not matched:
        raise errors.InvalidSignatureError("no matching webhook signature found")


def _verify_ycloud(
    body: bytes, header: str, secrets: Sequence[str], *, tolerance: int, now: float
) -> None:
    try:
        timestamp, _ = signing.parse_ycloud_header(header)
    except ValueError as exc:
        raise errors.InvalidHeadersError(str(exc)) from exc
    _check_timestamp(timestamp, tolerance=tolerance, now=now)
    hmac_secrets = [secret for secret in secrets if not signing.is_public_key(secret)]
    try:
        matched = signing.verify_ycloud(header=header, body=body, secrets=hmac_secrets)
    except ValueError as exc:  # a signature that is not text it could have been (\ud800)
        raise errors.InvalidHeadersError(f"the YCloud-Signature is malformed: {exc}") from exc
    if not matched:
        raise errors.InvalidSignatureError("the YCloud-Signature does not match")


def _parse_timestamp(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_TIMESTAMP_DIGITS:
        raise errors.InvalidHeadersError(
            f"webhook-timestamp must be unix seconds, got {value[:32]!r}"
        )
    return int(text)


def _check_timestamp(timestamp: int, *, tolerance: int, now: float) -> None:
    if timestamp < now - tolerance:
        raise errors.TimestampOutOfToleranceError("the webhook timestamp is too old")
    if timestamp > now + tolerance:
        raise errors.TimestampOutOfToleranceError("the webhook timestamp is too far in the future")
