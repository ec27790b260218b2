"""Vonage SMS API delivery receipts (DLR): the fields as a query string (GET), a form or a JSON
object (POST), signed when the account's signed webhooks are on: ``sig`` is, over every other
field sorted by name as ``&name=value`` (``&`` and ``=`` in values replaced by ``_``), the MD5
of that text followed by the signature secret (``md5hash``, the default), or its HMAC keyed by
the secret (``md5``, ``sha1``, ``sha256``, ``sha512``), in hex. Vonage retries a non-2xx."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from statushooks import exceptions
from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
STATUSES: dict[str, MessageStatus | None] = {
    "accepted": MessageStatus.SENT,
    "buffered": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "expired": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.UNDELIVERED,
    "rejected": MessageStatus.FAILED,
    "unknown": None,
}


def fields(request: base.Callback) -> dict[str, str]:
    """The receipt's fields, however Vonage sent them."""
    if request.body.lstrip().startswith(b"{"):
        data = base.signed_json(request)
        if isinstance(data, Mapping):
            return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return base.form(request)


def signature(params: Mapping[str, str], secret: str, method: str) -> str:
    """The ``sig`` of ``params`` (``sig`` itself left out)."""
    text = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    ).encode()
    if method == "md5hash":
        return hashlib.md5(text + secret.encode()).hexdigest()
    if method not in METHODS:
        raise exceptions.SignatureError(f"unknown Vonage signature method {method!r}")
    return base.hmac_digest(secret, text, method).hex()


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    params = fields(request)
    given = base.require(params.get("sig"), "sig field")
    method = credentials.get("signature_method", "md5hash").lower()
    expected = signature(params, credentials["signature_secret"], method)
    base.check(base.same(expected, given.lower()), "sig")


def parse(request: base.Callback) -> base.Parsed:
    params = fields(request)
    message_id = params.get("messageId") or params.get("message-id")
    raw = params.get("status")
    if not message_id or not raw:
        return base.Parsed()
    code = params.get("err-code")
    receipt = base.Receipt(
        provider_message_id=message_id,
        status=STATUSES.get(raw),
        raw_status=raw,
        error_code=code if code not in (None, "", "0") else None,
        occurred_at=base.when(params.get("message-timestamp")),
    )
    return base.Parsed(receipts=(receipt,))


PROVIDER = base.Provider(
    name="vonage",
    channels=frozenset({Channel.SMS}),
    required=("signature_secret",),
    optional=("signature_method",),
    verify=verify,
    parse=parse,
    summary="Dashboard → API settings: delivery receipts URL = callback_url, signed webhooks "
    "on; signature_method as chosen there (md5hash by default).",
)
