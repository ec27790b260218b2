"""Webhook signatures: Standard Webhooks v1 and the YCloud header — pure, standard library only.

Standard Webhooks v1 (https://www.standardwebhooks.com/)::

    webhook-id: msg_...
    webhook-timestamp: 1614265330                      (unix seconds)
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

The key is the base64-decoded part of a ``whsec_<base64>`` secret (a secret without the prefix
is accepted too, as the ``standardwebhooks`` library does). While a secret is being rotated,
every live secret signs and the signatures are space-separated; a receiver accepts any match.

Standard Webhooks ``v1a`` (asymmetric, Ed25519)::

    webhook-signature: v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">

signed with a ``whsk_<base64 32-byte seed>`` secret key that only the sender holds; the
receiver verifies with the ``whpk_<base64 32-byte public key>`` it was given. A ``whsk_``
value of 64 bytes (libsodium's seed followed by the public key) is accepted too. ``v1`` and
``v1a`` signatures may stand side by side in one header: ``sign`` makes the kind each secret
is.

YCloud::

    YCloud-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(secret, "{t}.{body}")>
    X-Webhook-Endpoint-ID: ep_...

keyed with the endpoint secret string as-is (the UTF-8 bytes of the whole string, prefix
included).

This module is imported by the receiver SDK (``statushooks.receiver``), so it must only ever
import the standard library at import time: Ed25519 needs the ``cryptography`` package, which
is imported on first use of a ``whsk_`` or ``whpk_`` key (``MissingEd25519Error`` without it). It checks signatures but not timestamps' freshness: the receiver
owns the clock.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Iterable, Sequence
from typing import Any

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
ED25519_SECRET_PREFIX = "whsk_"
ED25519_PUBLIC_PREFIX = "whpk_"
ED25519_VERSION = "v1a"
ED25519_SEED_BYTES = 32
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
YCLOUD_HEADER_SIGNATURE = "YCloud-Signature"
YCLOUD_HEADER_ENDPOINT_ID = "X-Webhook-Endpoint-ID"


class MissingEd25519Error(ImportError):
    """Ed25519 keys need the ``cryptography`` package, which is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "Ed25519 (v1a) signatures need the cryptography package: "
            "pip install 'statushooks[receiver-ed25519]' (or cryptography)"
        )


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
    """The ``webhook-signature`` value: per secret ``v1,<base64>`` (a ``whsec_`` secret) or
    ``v1a,<base64>`` (a ``whsk_`` key), space-separated.

    Raises:
        ValueError: no secret was given, or one is malformed.
        MissingEd25519Error: a ``whsk_`` key, and no ``cryptography`` package.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(
        _signed_entry(secret, msg_id=msg_id, timestamp=timestamp, body=body) for secret in secrets
    )


def _signed_entry(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    if is_ed25519_secret(secret):
        raw = ed25519_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
        return f"{ED25519_VERSION},{base64.b64encode(raw).decode()}"
    return _versioned(
        signature(key=decode_secret(secret), msg_id=msg_id, timestamp=timestamp, body=body)
    )


def is_ed25519_secret(secret: str) -> bool:
    """Whether the secret is an Ed25519 secret key (``whsk_…``) rather than an HMAC secret."""
    return secret.startswith(ED25519_SECRET_PREFIX)


def is_public_key(key: str) -> bool:
    """Whether the value is an Ed25519 public key (``whpk_…``)."""
    return key.startswith(ED25519_PUBLIC_PREFIX)


def signature_version(secret: str) -> str:
    """``v1a`` for an Ed25519 secret key, ``v1`` for an HMAC secret."""
    return ED25519_VERSION if is_ed25519_secret(secret) else SIGNATURE_VERSION


def webhook_headers(
    *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(msg_id=msg_id, timestamp=timestamp, body=body, secrets=secrets),
    }


def parse_signature_header(value: str, version: str = SIGNATURE_VERSION) -> list[bytes]:
    """The signatures of one ``version`` in a ``webhook-signature`` value; other versions and
    junk are skipped."""
    found: list[bytes] = []
    for entry in value.split():
        entry_version, _, encoded = entry.partition(",")
        if entry_version != version:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


def verify(
    *, msg_id: str, timestamp: int, body: bytes, signature_header: str, secrets: Sequence[str]
) -> bool:
    """Whether any signature in the header was made with any of the keys: a ``v1`` one with
    a ``whsec_`` secret, a ``v1a`` one with the secret key of a ``whpk_`` public key.

    The timestamp is only part of the signed content here; checking that it is recent is the
    caller's job (see ``statushooks.receiver.verify``).

    Raises:
        ValueError: a secret or public key is malformed.
        MissingEd25519Error: a ``whpk_`` key, and no ``cryptography`` package.
    """
    if any(is_ed25519_secret(secret) for secret in secrets):
        raise ValueError("a whsk_ secret key signs: verify with its whpk_ public key")
    hmac_secrets = [secret for secret in secrets if not is_public_key(secret)]
    public_keys = [secret for secret in secrets if is_public_key(secret)]
    candidates = parse_signature_header(signature_header)
    expected = [
        signature(key=decode_secret(secret), msg_id=msg_id, timestamp=timestamp, body=body)
        for secret in hmac_secrets
    ]
    matched = _any_match(expected, candidates)
    if public_keys:
        matched |= verify_ed25519(
            msg_id=msg_id,
            timestamp=timestamp,
            body=body,
            signature_header=signature_header,
            public_keys=public_keys,
        )
    return matched


# -- Standard Webhooks v1a: Ed25519 -------------------------------------------------------------


def _ed25519() -> Any:
    """The ``cryptography`` Ed25519 module, imported on first use."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise MissingEd25519Error from exc
    return ed25519


def _decode_key(value: str, prefix: str, what: str) -> bytes:
    encoded = value.removeprefix(prefix).strip()
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the {what} is not valid base64") from exc
    if len(raw) == 2 * ED25519_SEED_BYTES and prefix == ED25519_SECRET_PREFIX:
        raw = raw[:ED25519_SEED_BYTES]  # libsodium's seed + public key
    if len(raw) != ED25519_SEED_BYTES:
        raise ValueError(f"the {what} must be {ED25519_SEED_BYTES} bytes of base64")
    return raw


@functools.lru_cache(maxsize=SECRET_CACHE_SIZE)
def _private_key(secret: str) -> Any:
    seed = _decode_key(secret, ED25519_SECRET_PREFIX, "Ed25519 secret key")
    return _ed25519().Ed25519PrivateKey.from_private_bytes(seed)


@functools.lru_cache(maxsize=SECRET_CACHE_SIZE)
def _public_key(public_key: str) -> Any:
    raw = _decode_key(public_key, ED25519_PUBLIC_PREFIX, "Ed25519 public key")
    return _ed25519().Ed25519PublicKey.from_public_bytes(raw)


def new_ed25519_secret(seed: bytes) -> str:
    """The ``whsk_`` secret key of a 32-byte seed (no dependency: the seed is the key)."""
    if len(seed) != ED25519_SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is {ED25519_SEED_BYTES} bytes")
    return ED25519_SECRET_PREFIX + base64.b64encode(seed).decode()


def public_key_of(secret: str) -> str:
    """The ``whpk_`` public key that verifies what the ``whsk_`` secret key signs.

    Raises:
        ValueError: the secret key is malformed.
        MissingEd25519Error: no ``cryptography`` package.
    """
    raw = _private_key(secret).public_key().public_bytes_raw()
    return ED25519_PUBLIC_PREFIX + base64.b64encode(raw).decode()


def ed25519_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """The raw 64-byte Ed25519 signature of ``{msg_id}.{timestamp}.{body}``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return bytes(_private_key(secret).sign(signed))


def verify_ed25519(
    *,
    msg_id: str,
    timestamp: int,
    body: bytes,
    signature_header: str,
    public_keys: Sequence[str],
) -> bool:
    """Whether any ``v1a`` signature in the header verifies with any of the public keys.

    Raises:
        ValueError: a public key is malformed.
        MissingEd25519Error: no ``cryptography`` package.
    """
    keys = [_public_key(key) for key in public_keys]
    candidates = parse_signature_header(signature_header, ED25519_VERSION)
    if not candidates:
        return False
    invalid = _ed25519_invalid_signature()
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for key in keys:
        for candidate in candidates:
            try:
                key.verify(candidate, signed)
            except invalid:
                continue
            return True
    return False


def _ed25519_invalid_signature() -> type[Exception]:
    try:
        from cryptography.exceptions import InvalidSignature
    except ImportError as exc:
        raise MissingEd25519Error from exc
    return InvalidSignature


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
