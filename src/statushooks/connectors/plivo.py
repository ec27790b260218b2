"""Plivo message status callbacks (form-encoded ``MessageUUID``, ``Status``, ``ErrorCode``),
signed with signature V3: ``X-Plivo-Signature-V3`` is base64 HMAC-SHA256, keyed by the auth
token, of the callback URL (``?`` and its query sorted, for a POST with parameters), then each
POST parameter sorted as name then value, then ``.`` and ``X-Plivo-Signature-V3-Nonce``. The
header may list several signatures, comma-separated."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

STATUSES: dict[str, MessageStatus | None] = {
    "queued": None,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "rejected": MessageStatus.FAILED,
}
NO_ERROR = frozenset({"", "0", "000"})


def signed_text(method: str, url: str, params: Mapping[str, str]) -> str:
    """What a V3 signature signs, without the nonce."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if method == "GET":
        query.update(params)
    base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    sorted_query = "&".join(f"{name}={query[name]}" for name in sorted(query))
    if method == "GET" or not params:
        return base_url + (f"?{sorted_query}" if sorted_query else "")
    base_url += "?" + sorted_query + ("." if sorted_query else "")
    return base_url + "".join(f"{name}{params[name]}" for name in sorted(params))


def expected_signature(
    method: str, url: str, params: Mapping[str, str], nonce: str, auth_token: str
) -> str:
    message = f"{signed_text(method, url, params)}.{nonce}".encode()
    return base.b64(base.hmac_digest(auth_token, message, "sha256"))


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    given = base.require(request.header("x-plivo-signature-v3"), "X-Plivo-Signature-V3 header")
    nonce = base.require(request.header("x-plivo-signature-v3-nonce"), "signature nonce header")
    method = request.method.upper()
    params = {} if method == "GET" else base.form(request)
    expected = expected_signature(method, request.url, params, nonce, credentials["auth_token"])
    matches = [base.same(expected, candidate.strip()) for candidate in given.split(",")]
    base.check(any(matches), "X-Plivo-Signature-V3")


def parse(request: base.Callback) -> base.Parsed:
    fields = base.form(request)
    message_id = fields.get("MessageUUID")
    raw = fields.get("Status")
    if not message_id or not raw:
        return base.Parsed()
    if raw == "received":
        inbound = base.InboundMessage(
            provider_message_id=message_id,
            sender=fields.get("From", ""),
            to=fields.get("To", ""),
            text=fields.get("Text", ""),
        )
        return base.Parsed(inbound=(inbound,))
    code = fields.get("ErrorCode", "")
    receipt = base.Receipt(
        provider_message_id=message_id,
        status=STATUSES.get(raw),
        raw_status=raw,
        error_code=None if code in NO_ERROR else code,
    )
    return base.Parsed(receipts=(receipt,))


PROVIDER = base.Provider(
    name="plivo",
    channels=frozenset({Channel.SMS}),
    required=("auth_token",),
    verify=verify,
    parse=parse,
    summary="The message's url (status callback) = callback_url, method POST.",
)
