"""Helpers of the connector tests: an SNS signing certificate made here (nothing is fetched)
and SNS messages signed with it, around SES's documented delivery event."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from statushooks.connectors import ses

NOW = datetime(2025, 6, 30, 12, 8, 45, tzinfo=UTC)


def certificate() -> tuple[rsa.RSAPrivateKey, str]:
    """A self-signed signing certificate, as SNS's would be (made here: nothing is fetched)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


SES_DELIVERY = {
    "eventType": "Delivery",
    "mail": {
        "timestamp": "2016-10-19T23:20:52.240Z",
        "source": "sender@example.com",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    },
    "delivery": {
        "timestamp": "2016-10-19T23:21:04.133Z",
        "processingTimeMillis": 11893,
        "recipients": ["recipient@example.com"],
        "smtpResponse": "250 2.6.0 OK",
    },
}


def sns_message(key: rsa.RSAPrivateKey, version: str, **fields: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:ses-events",
        "Message": orjson.dumps(SES_DELIVERY).decode(),
        "Timestamp": "2016-10-19T23:21:04.200Z",
        "SignatureVersion": version,
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        **fields,
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(ses.string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message
