"""Amazon SES event notifications through Amazon SNS (HTTPS subscription).

SNS signs every message: ``Signature`` is RSA (PKCS#1 v1.5) over SHA-1 (``SignatureVersion``
1) or SHA-256 (2) of the message's fields as ``name\\nvalue\\n`` in a fixed order, with the
key of the X.509 certificate at ``SigningCertURL``. The certificate is the connector's
``certificate`` (PEM) when configured; otherwise the service fetches it, only from an
allow-listed AWS host (``check_aws_url``), and caches it. A ``SubscriptionConfirmation`` is
confirmed by fetching its ``SubscribeURL`` (same allow-list); ``topic_arn``, when configured,
is the only topic accepted. SNS retries a non-2xx answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from statushooks import exceptions
from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

#: The hosts SNS serves certificates and subscription confirmations from.
AWS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = (
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
)  # fmt: skip
SUBSCRIPTION_TYPES = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
#: SES ``eventType`` / ``notificationType`` → ours (a bounce: by its ``bounceType``).
STATUSES: dict[str, MessageStatus | None] = {
    "Send": MessageStatus.SENT,
    "Delivery": MessageStatus.DELIVERED,
    "Reject": MessageStatus.FAILED,
    "Rendering Failure": MessageStatus.FAILED,
    "Complaint": None,
    "DeliveryDelay": None,
    "Open": None,
    "Click": None,
    "Subscription": None,
}


def check_aws_url(url: str) -> str:
    """``url`` if it is https on an SNS host of AWS; else a validation error (never fetched)."""
    parts = urlsplit(url)
    host_ok = parts.hostname is not None and AWS_HOST.match(parts.hostname) is not None
    if parts.scheme != "https" or not host_ok or parts.username or parts.port not in (None, 443):
        raise exceptions.ValidationError(f"{url!r} is not an allow-listed Amazon SNS URL")
    return url


def envelope(request: base.Callback) -> Mapping[str, Any]:
    """The SNS message; a body that is not one carries no signature (401)."""
    data = base.signed_json(request)
    if not isinstance(data, Mapping) or not isinstance(data.get("Type"), str):
        raise exceptions.SignatureMissingError("no signature: the body is not an SNS message")
    return data


def signing_cert_url(request: base.Callback) -> str:
    """The allow-listed ``SigningCertURL`` of the message (to fetch when none is configured)."""
    url = envelope(request).get("SigningCertURL")
    if not isinstance(url, str):
        raise exceptions.SignatureMissingError("no SigningCertURL on the SNS message")
    return check_aws_url(url)


def signing_key(pem: str) -> rsa.RSAPublicKey:
    """The RSA key of a PEM signing certificate; ``SignatureError`` for anything else."""
    try:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    except ValueError:
        raise exceptions.SignatureError("no usable SNS signing certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise exceptions.SignatureError("the SNS signing certificate has no RSA key")
    return key


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    names = (
        SUBSCRIPTION_FIELDS if message.get("Type") in SUBSCRIPTION_TYPES else NOTIFICATION_FIELDS
    )
    return "".join(
        f"{name}\n{message[name]}\n" for name in names if message.get(name) is not None
    ).encode()


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    message = envelope(request)
    signature = base.require(base.text(message.get("Signature")), "Signature field")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise exceptions.SignatureError("unknown SNS SignatureVersion")
    topic = credentials.get("topic_arn")
    if topic and not base.same(topic, str(message.get("TopicArn", ""))):
        raise exceptions.SignatureError("the SNS message is from another topic")
    key = signing_key(credentials.get("certificate", ""))
    try:
        key.verify(
            base.unb64(signature, "Signature"),
            string_to_sign(message),
            padding.PKCS1v15(),
            algorithm(),
        )
    except InvalidSignature:
        base.check(False, "SNS signature")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _receipt(event: Mapping[str, Any]) -> base.Receipt | None:
    kind = base.text(event.get("eventType") or event.get("notificationType"))
    message_id = base.text(_mapping(event.get("mail")).get("messageId"))
    if kind is None or message_id is None:
        return None
    detail = _mapping(event.get(kind[:1].lower() + kind[1:].replace(" ", "")))
    status = STATUSES.get(kind)
    raw = kind
    code = text = None
    if kind == "Bounce":
        bounce_type = base.text(detail.get("bounceType")) or ""
        status = MessageStatus.FAILED if bounce_type == "Permanent" else None
        raw = f"Bounce:{bounce_type}:{detail.get('bounceSubType', '')}"
        recipients = detail.get("bouncedRecipients")
        first = _mapping(recipients[0]) if isinstance(recipients, list) and recipients else {}
        code = base.text(first.get("status"))
        text = base.text(first.get("diagnosticCode"))
    elif status is MessageStatus.FAILED:
        text = base.text(detail.get("reason") or detail.get("errorMessage"))
    return base.Receipt(
        provider_message_id=message_id,
        status=status,
        raw_status=raw,
        error_code=code,
        error_message=text,
        occurred_at=base.when(
            detail.get("timestamp") or _mapping(event.get("mail")).get("timestamp")
        ),
    )


def parse(request: base.Callback) -> base.Parsed:
    message = envelope(request)
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        return base.Parsed(confirm_url=check_aws_url(str(message.get("SubscribeURL", ""))))
    if kind != "Notification":
        return base.Parsed()
    try:
        event = orjson.loads(str(message.get("Message", "")))
    except orjson.JSONDecodeError:
        raise exceptions.ValidationError("the SNS Message is not an SES event") from None
    receipt = _receipt(_mapping(event))
    return base.Parsed(receipts=(receipt,) if receipt is not None else ())


PROVIDER = base.Provider(
    name="ses",
    channels=frozenset({Channel.EMAIL}),
    required=(),
    optional=("certificate", "topic_arn"),
    verify=verify,
    parse=parse,
    summary="An SES configuration set's event destination (or identity notifications) → an SNS "
    "topic with an HTTPS subscription to callback_url; it is confirmed on arrival.",
)
