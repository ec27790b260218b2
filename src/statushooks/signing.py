"""Webhook signatures: Standard Webhooks v1 and the YCloud header — pure, standard library only.

Standard Webhooks v1 (https://www.standardwebhooks.com/)::

    webhook-id: msg_...
    webhook-timestamp: 1614265330                      (unix seconds)
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

The key is the base64-decoded part of a ``whsec_<base64>`` secret (a secret without the prefix
is accepted too, as the ``standardwebhooks`` library does). While a secret is being rotated,
every live secret signs and the signatures are space-separated; a receiver accepts any match.

YCloud::

    YCloud-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(secret, "{t}.{body}")>
    X-Webhook-Endpoint-ID: ep_...

keyed with the endpoint secret string as-is (the UTF-8 bytes of the whole string, prefix
included).

This module is imported by the receiver SDK (``statushooks.receiver``), so it must only ever
import the standard library. It checks signatures but not timestamps' freshness: the receiver
owns the clock.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Iterable, Sequence

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
YCLOUD_HEADER_SIGNATURE = "YCloud-Signature"
YCLOUD_HEADER_ENDPOINT_ID = "X-Webhook-Endpoint-ID"


# -- Standard Webhooks ---------------------------------------------------------------------------


#: Secrets whose key is remembered: every request is signed, and a dispatcher going round more
#: endpoints than the cache holds would decode every secret again (stdlib only: no import of
#: the server's modules here).
SECRET_CACHE_SIZE = 16_384


@functools.lru_cache(maxsize=SECRET_CACHE_SIZE)
def decode_secret(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after an optional ``whsec_``.

    Raises:
        ValueError: the secret is empty, not base64, or decodes to no bytes.
    """
    encoded = secret.removeprefix(SECRET_PREFIX).rstrip("=")
    try:
        # Padding is optional, as in the standardwebhooks library.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("the webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def signature(*, key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """The raw HMAC-SHA256 of ``{msg_id}.{timestamp}.{body}``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.digest(key, signed, "sha256")


def sign(*, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>`` per secret, space-separated.

    Raises:
        ValueError: no secret was given, or one is malformed.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(
        _versioned(
            signature(key=decode_secret(secret), msg_id=msg_id, timestamp=timestamp, body=body)
        )
        for secret in secrets
    )


def webhook_headers(
    *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(msg_id=msg_id, timestamp=timestamp, body=body, secrets=secrets),
    }


def parse_signature_header(value: str) -> list[bytes]:
    """The ``v1`` signatures in a ``webhook-signature`` value; other versions and junk are skipped."""
    found: list[bytes] = []
    for entry in value.split():
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


def verify(
    *, msg_id: str, timestamp: int, body: bytes, signature_header: str, secrets: Sequence[str]
) -> bool:
    """Whether any ``v1`` signature in the header was made with any of the secrets.

    The timestamp is only part of the signed content here; checking that it is recent is the
    caller's job (see ``statushooks.receiver.verify``).

    Raises:
        ValueError: a secret is malformed.
    """
    candidates = parse_signature_header(signature_header)
    expected = [
        signature(key=decode_secret(secret), msg_id=msg_id, timestamp=timestamp, body=body)
        for secret in secrets
    ]
    return _any_match(expected, candidates)


# -- YCloud --------------------------------------------------------------------------------------


def ycloud_signature(*, timestamp: int, body: bytes, secret: str) -> str:
    """The lowercase hex HMAC-SHA256 of ``{timestamp}.{body}`` keyed with the secret as-is."""
    signed = f"{timestamp}.".encode() + body
    return hmac.digest(secret.encode(), signed, "sha256").hex()


def ycloud_headers(*, timestamp: int, body: bytes, secret: str, endpoint_id: str) -> dict[str, str]:
    """The YCloud ``YCloud-Signature`` and ``X-Webhook-Endpoint-ID`` headers.

    Raises:
        ValueError: the secret is empty.
    """
    if not secret:
        raise ValueError("the webhook secret is empty")
    digest = ycloud_signature(timestamp=timestamp, body=body, secret=secret)
    return {
        YCLOUD_HEADER_SIGNATURE: f"t={timestamp},s={digest}",
        YCLOUD_HEADER_ENDPOINT_ID: endpoint_id,
    }


def parse_ycloud_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the hex signatures of a ``YCloud-Signature`` value ``t=…,s=…``.

    Raises:
        ValueError: there is no integer ``t`` or no ``s``.
    """
    timestamps: list[str] = []
    digests: list[str] = []
    for item in value.split(","):
        name, _, content = item.strip().partition("=")
        if name == "t":
            timestamps.append(content.strip())
        elif name == "s":
            digests.append(content.strip().lower())
    if len(timestamps) != 1 or not _is_unsigned_int(timestamps[0]) or not digests:
        raise ValueError("the YCloud-Signature header must be t=<unix seconds>,s=<hex>")
    return int(timestamps[0]), digests


def verify_ycloud(*, header: str, body: bytes, secrets: Sequence[str]) -> bool:
    """Whether the ``YCloud-Signature`` value was made over ``body`` with any of the secrets.

    Raises:
        ValueError: the header is malformed.
    """
    timestamp, digests = parse_ycloud_header(header)
    expected = [
        ycloud_signature(timestamp=timestamp, body=body, secret=secret).encode()
        for secret in secrets
        if secret
    ]
    return _any_match(expected, [digest.encode() for digest in digests])


# -- helpers -------------------------------------------------------------------------------------


def _is_unsigned_int(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _versioned(digest: bytes) -> str:
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _any_match(expected: Iterable[bytes], candidates: Sequence[bytes]) -> bool:
    """Constant-time comparison of every expected value against every candidate."""
    matched = False
    for want in expected:
        for got in candidates:
            matched |= hmac.compare_digest(want, got)
    return matched
