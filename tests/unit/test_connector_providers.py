"""The provider adapters: each signature scheme checked against the provider's own SDK helper
where one exists (twilio, sendgrid, telnyx, plivo, vonage) or computed from its documentation, each
payload built from the provider's documented examples, and each status vocabulary mapped."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from plivo.utils.signature_v3 import validate_v3_signature
from sendgrid.helpers.eventwebhook import EventWebhook
from telnyx.lib.webhook_verification import verify_webhook_signature
from twilio.request_validator import RequestValidator
from vonage_http_client.auth import Auth

from connector_support import SES_DELIVERY, certificate, sns_message
from statushooks import connectors, exceptions
from statushooks.connectors import (
    bandwidth,
    base,
    fetch,
    infobip,
    mailgun,
    plivo,
    postmark,
    sendgrid,
    ses,
    sinch,
    telnyx,
    twilio,
    vonage,
)
from statushooks.connectors.sealing import Sealer
from statushooks.messages import MessageStatus

URL = "https://hooks.example.com/hooks/con_3MZTwq3Jx8yFvJ2B9kQp3b1yRTe"
NOW = datetime(2025, 6, 30, 12, 8, 45, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"


def callback(
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    url: str = URL,
    query: dict[str, str] | None = None,
    received_at: datetime = NOW,
) -> base.Callback:
    return base.Callback(
        method=method,
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        body=body,
        query=query or {},
        received_at=received_at,
    )


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- Twilio --------------------------------------------------------------------------------

TWILIO_TOKEN = "12345678901234567890123456789012"
#: A status callback as Twilio documents it (Messaging → "Outbound Message Status").
TWILIO_PARAMS = {
    "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ApiVersion": "2010-04-01",
    "From": "+15017122661",
    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "MessageStatus": "undelivered",
    "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "SmsStatus": "undelivered",
    "To": "+15558675310",
    "ErrorCode": "30003",
}


def test_twilio_signature_matches_the_sdks() -> None:
    """Our X-Twilio-Signature equals twilio's RequestValidator's, and it validates ours."""
    validator = RequestValidator(TWILIO_TOKEN)
    ours = twilio.expected_signature(URL, list(TWILIO_PARAMS.items()), TWILIO_TOKEN)
    assert ours == validator.compute_signature(URL, TWILIO_PARAMS)
    assert validator.validate(URL, TWILIO_PARAMS, ours)
    request = callback(urlencode(TWILIO_PARAMS).encode(), headers={"X-Twilio-Signature": ours})
    twilio.verify(request, {"auth_token": TWILIO_TOKEN})


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, exceptions.SignatureMissingError),
        ({"X-Twilio-Signature": "bm90IGl0"}, exceptions.SignatureError),
    ],
)
def test_twilio_refuses_a_missing_or_wrong_signature(
    headers: dict[str, str], error: type[Exception]
) -> None:
    """No signature is a missing one (401); another one does not match (403)."""
    with pytest.raises(error):
        twilio.verify(
            callback(urlencode(TWILIO_PARAMS).encode(), headers=headers),
            {"auth_token": TWILIO_TOKEN},
        )


def test_twilio_signature_covers_the_body_and_the_url() -> None:
    """A changed parameter or another URL breaks the signature."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(URL, TWILIO_PARAMS)
    changed = {**TWILIO_PARAMS, "MessageStatus": "delivered"}
    for request in (
        callback(urlencode(changed).encode(), headers={"X-Twilio-Signature": signature}),
        callback(
            urlencode(TWILIO_PARAMS).encode(),
            headers={"X-Twilio-Signature": signature},
            url=URL + "x",
        ),
    ):
        with pytest.raises(exceptions.SignatureError):
            twilio.verify(request, {"auth_token": TWILIO_TOKEN})


def test_twilio_parses_a_status_callback() -> None:
    """MessageSid, our status, Twilio's status word and its error code."""
    (receipt,) = twilio.parse(callback(urlencode(TWILIO_PARAMS).encode())).receipts
    assert receipt == base.Receipt(
        provider_message_id="SM1f0e8ae6ade43cb3c0ce4525424e404f",
        status=MessageStatus.UNDELIVERED,
        raw_status="undelivered",
        error_code="30003",
    )


def test_twilio_parses_voice_calls_and_inbound_messages() -> None:
    """A call's CallStatus maps too; an incoming SMS is an inbound message, not a receipt."""
    call = {"CallSid": "CA123", "CallStatus": "no-answer"}
    (receipt,) = twilio.parse(callback(urlencode(call).encode())).receipts
    assert (receipt.provider_message_id, receipt.status) == ("CA123", MessageStatus.UNDELIVERED)
    incoming = {
        "MessageSid": "SM9",
        "SmsStatus": "received",
        "From": "+1555",
        "To": "+1666",
        "Body": "STOP",
    }
    parsed = twilio.parse(callback(urlencode(incoming).encode()))
    assert parsed.receipts == ()
    assert parsed.inbound == (
        base.InboundMessage(provider_message_id="SM9", sender="+1555", to="+1666", text="STOP"),
    )


# -- SendGrid ------------------------------------------------------------------------------

#: Event Webhook events as SendGrid documents them.
SENDGRID_EVENTS = [
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "delivered",
        "sg_event_id": "sg_event_id",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "response": "250 OK",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299570,
        "event": "bounce",
        "type": "bounce",
        "sg_event_id": "sg_event_id2",
        "sg_message_id": "BtmsO2ZuTTCzCbyMvTmy6A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299571,
        "event": "open",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    },
]


def _ec_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()


def test_sendgrid_signature_is_checked_like_the_sdk() -> None:
    """An ECDSA signature over timestamp + body passes ours and sendgrid's EventWebhook; the
    same over another body fails both."""
    key, public = _ec_key()
    body = orjson.dumps(SENDGRID_EVENTS)
    timestamp = "1513299569"
    signature = base64.b64encode(
        key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    helper = EventWebhook(public)
    assert helper.verify_signature(body.decode(), signature, timestamp)
    sendgrid.verify(callback(body, headers=headers), {"public_key": public})
    tampered = body.replace(b"delivered", b"processed")
    assert not helper.verify_signature(tampered.decode(), signature, timestamp)
    with pytest.raises(exceptions.SignatureError):
        sendgrid.verify(callback(tampered, headers=headers), {"public_key": public})
    with pytest.raises(exceptions.SignatureMissingError):
        sendgrid.verify(callback(body), {"public_key": public})


def test_sendgrid_parses_events_and_finds_the_message_by_x_message_id() -> None:
    """sg_message_id up to ``.filter…`` is the send API's X-Message-Id; opens move nothing."""
    receipts = sendgrid.parse(callback(orjson.dumps(SENDGRID_EVENTS))).receipts
    assert [(r.provider_message_id, r.status, r.raw_status) for r in receipts] == [
        ("14c5d75ce93.dfd.64b469", MessageStatus.DELIVERED, "delivered"),
        ("BtmsO2ZuTTCzCbyMvTmy6A", MessageStatus.FAILED, "bounce:bounce"),
        ("14c5d75ce93.dfd.64b469", None, "open"),
    ]
    assert (receipts[1].error_code, receipts[1].error_message) == ("5.0.0", "500 unknown recipient")
    assert receipts[0].occurred_at == datetime.fromtimestamp(1513299569, UTC)


# -- Telnyx --------------------------------------------------------------------------------

TELNYX_EVENT = {
    "data": {
        "event_type": "message.finalized",
        "id": "86f58db9-0734-4b2b-a8bd-9e5b8c7d7b4e",
        "occurred_at": "2025-06-30T12:08:44.000+00:00",
        "payload": {
            "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
            "to": [{"phone_number": "+18665550001", "status": "delivery_failed"}],
            "errors": [{"code": "40008", "title": "Undeliverable", "detail": "Carrier rejected"}],
        },
        "record_type": "event",
    },
    "meta": {"attempt": 1, "delivered_to": "https://example.com/webhooks"},
}


def _telnyx_signed(body: bytes, key: ed25519.Ed25519PrivateKey, timestamp: int) -> dict[str, str]:
    signature = key.sign(f"{timestamp}|".encode() + body)
    return {
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": str(timestamp),
    }


def test_telnyx_signature_is_checked_like_the_sdk() -> None:
    """ed25519 over ``timestamp|body``: ours and telnyx's verify_webhook_signature agree."""
    key = ed25519.Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    body = orjson.dumps(TELNYX_EVENT)
    now = datetime.now(UTC)
    headers = _telnyx_signed(body, key, int(now.timestamp()))
    verify_webhook_signature(body, headers, public)  # the SDK's helper raises if it fails
    telnyx.verify(callback(body, headers=headers, received_at=now), {"public_key": public})
    with pytest.raises(exceptions.SignatureError):
        telnyx.verify(
            callback(body + b" ", headers=headers, received_at=now), {"public_key": public}
        )
    with pytest.raises(exceptions.SignatureError, match="five minutes"):
        telnyx.verify(
            callback(body, headers=headers, received_at=now + timedelta(minutes=6)),
            {"public_key": public},
        )


def test_telnyx_parses_a_finalized_message() -> None:
    (receipt,) = telnyx.parse(callback(orjson.dumps(TELNYX_EVENT))).receipts
    assert receipt == base.Receipt(
        provider_message_id="40385f64-5717-4562-b3fc-2c963f66afa6",
        status=MessageStatus.UNDELIVERED,
        raw_status="delivery_failed",
        error_code="40008",
        error_message="Carrier rejected",
        occurred_at=datetime(2025, 6, 30, 12, 8, 44, tzinfo=UTC),
    )


# -- Plivo ---------------------------------------------------------------------------------

PLIVO_TOKEN = "MjE2NGU5ZDM0MzQ2NDdlZDY5YzM4ZmQ2YzM4ZTRj"
PLIVO_PARAMS = {
    "From": "14155551234",
    "MessageUUID": "f8d8b9a0-4b4f-11ee-8f1c-0242ac110003",
    "Status": "delivered",
    "To": "14155556789",
    "TotalAmount": "0.00500",
    "TotalRate": "0.00500",
    "Units": "1",
    "ErrorCode": "000",
}


@pytest.mark.parametrize("url", [URL, URL + "?tag=a&b=2"])
def test_plivo_v3_signature_matches_the_sdk(url: str) -> None:
    """A V3 signature plivo's validate_v3_signature accepts is accepted here too."""
    nonce = "05429567804466091622"
    signature = plivo.expected_signature("POST", url, PLIVO_PARAMS, nonce, PLIVO_TOKEN)
    assert validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, signature, dict(PLIVO_PARAMS))
    headers = {"X-Plivo-Signature-V3": f"other,{signature}", "X-Plivo-Signature-V3-Nonce": nonce}
    plivo.verify(
        callback(urlencode(PLIVO_PARAMS).encode(), headers=headers, url=url),
        {"auth_token": PLIVO_TOKEN},
    )
    with pytest.raises(exceptions.SignatureError):
        plivo.verify(
            callback(urlencode(PLIVO_PARAMS).encode(), headers=headers, url=url),
            {"auth_token": "another-token"},
        )


def test_plivo_parses_a_status_callback() -> None:
    (receipt,) = plivo.parse(callback(urlencode(PLIVO_PARAMS).encode())).receipts
    assert (receipt.provider_message_id, receipt.status, receipt.error_code) == (
        "f8d8b9a0-4b4f-11ee-8f1c-0242ac110003",
        MessageStatus.DELIVERED,
        None,
    )


# -- Vonage --------------------------------------------------------------------------------

#: A DLR as Vonage documents it (SMS API → delivery receipt), signed fields included.
VONAGE_DLR = {
    "msisdn": "447700900000",
    "to": "AcmeInc",
    "network-code": "12345",
    "messageId": "0A0000001234567B",
    "price": "0.03330000",
    "status": "delivered",
    "scts": "2001011400",
    "err-code": "0",
    "api-key": "abcd1234",
    "message-timestamp": "2020-01-01 12:00:00",
    "timestamp": "1582650446",
    "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
}
VONAGE_SECRET = "vonage-signature-secret"


def _vonage_text(params: dict[str, str]) -> bytes:
    return "".join(
        f"&{k}={params[k].replace('&', '_').replace('=', '_')}" for k in sorted(params)
    ).encode()


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
def test_vonage_signature_every_method(method: str) -> None:
    """``sig`` by each of Vonage's methods (documented manual steps), GET or JSON POST."""
    text = _vonage_text(VONAGE_DLR)
    if method == "md5hash":
        sig = hashlib.md5(text + VONAGE_SECRET.encode()).hexdigest()
    else:
        sig = hmac.new(VONAGE_SECRET.encode(), text, method).hexdigest()
    credentials = {"signature_secret": VONAGE_SECRET, "signature_method": method}
    signed = {**VONAGE_DLR, "sig": sig.upper()}
    vonage.verify(callback(method="GET", query=signed), credentials)
    vonage.verify(callback(orjson.dumps(signed)), credentials)
    with pytest.raises(exceptions.SignatureError):
        vonage.verify(callback(method="GET", query={**signed, "status": "failed"}), credentials)
    with pytest.raises(exceptions.SignatureMissingError):
        vonage.verify(callback(method="GET", query=VONAGE_DLR), credentials)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_vonage_hmac_signatures_match_the_sdks(method: str) -> None:
    """Vonage's own ``Auth`` (vonage-http-client) signs what ours accepts, and accepts ours."""
    auth = Auth(api_key="abcd1234", signature_secret=VONAGE_SECRET, signature_method=method)
    theirs = auth.sign_params(dict(VONAGE_DLR))
    credentials = {"signature_secret": VONAGE_SECRET, "signature_method": method}
    vonage.verify(callback(method="GET", query={**VONAGE_DLR, "sig": theirs}), credentials)
    ours = vonage.signature(VONAGE_DLR, VONAGE_SECRET, method)
    assert auth.check_signature({**VONAGE_DLR, "sig": ours})


def test_vonage_parses_a_dlr() -> None:
    (receipt,) = vonage.parse(
        callback(method="GET", query={**VONAGE_DLR, "status": "expired", "err-code": "5"})
    ).receipts
    assert receipt == base.Receipt(
        provider_message_id="0A0000001234567B",
        status=MessageStatus.UNDELIVERED,
        raw_status="expired",
        error_code="5",
        occurred_at=datetime(2020, 1, 1, 12, 0, tzinfo=UTC),
    )


# -- Infobip, Sinch, Postmark, Bandwidth: basic auth ---------------------------------------

INFOBIP_REPORT = {
    "results": [
        {
            "bulkId": "BULK-ID-123-xyz",
            "messageId": "c9823180-94d4-4ea0-9bf3-ec907e7534a6",
            "to": "41793026731",
            "sentAt": "2019-11-09T16:00:00.000+0000",
            "doneAt": "2019-11-09T16:00:00.000+0000",
            "smsCount": 1,
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": {
                "groupId": 3,
                "groupName": "DELIVERED",
                "id": 5,
                "name": "DELIVERED_TO_HANDSET",
                "description": "Message delivered to handset",
            },
            "error": {
                "groupId": 0,
                "groupName": "OK",
                "id": 0,
                "name": "NO_ERROR",
                "description": "No Error",
                "permanent": False,
            },
        },
        {
            "messageId": "12db39c3-7822-4e72-a3ec-c87442c0ffc5",
            "doneAt": "2019-11-09T16:00:00.000+0000",
            "status": {
                "groupId": 2,
                "groupName": "UNDELIVERABLE",
                "id": 9,
                "name": "UNDELIVERABLE_NOT_DELIVERED",
            },
            "error": {
                "groupId": 1,
                "groupName": "HANDSET_ERRORS",
                "id": 27,
                "name": "EC_ABSENT_SUBSCRIBER",
                "description": "Absent Subscriber",
                "permanent": False,
            },
        },
    ]
}


@pytest.mark.parametrize(
    "provider", [infobip.PROVIDER, sinch.PROVIDER, postmark.PROVIDER, bandwidth.PROVIDER]
)
def test_basic_auth_providers_check_username_and_password(provider: base.Provider) -> None:
    """Basic auth passes with the connector's pair only; without it the caller is challenged."""
    credentials = {"username": "hooks", "password": "s3cret-pass"}
    provider.verify(callback(headers=basic("hooks", "s3cret-pass")), credentials)
    for wrong in (basic("hooks", "nope"), basic("other", "s3cret-pass")):
        with pytest.raises(exceptions.SignatureError):
            provider.verify(callback(headers=wrong), credentials)
    with pytest.raises(exceptions.SignatureMissingError):
        provider.verify(callback(), credentials)
    with pytest.raises(exceptions.SignatureMissingError):
        provider.verify(callback(headers={"Authorization": "Bearer x"}), credentials)


def test_infobip_parses_a_results_batch() -> None:
    receipts = infobip.parse(callback(orjson.dumps(INFOBIP_REPORT))).receipts
    assert [(r.provider_message_id, r.status, r.raw_status, r.error_code) for r in receipts] == [
        (
            "c9823180-94d4-4ea0-9bf3-ec907e7534a6",
            MessageStatus.DELIVERED,
            "DELIVERED:DELIVERED_TO_HANDSET",
            None,
        ),
        (
            "12db39c3-7822-4e72-a3ec-c87442c0ffc5",
            MessageStatus.UNDELIVERED,
            "UNDELIVERABLE:UNDELIVERABLE_NOT_DELIVERED",
            "27",
        ),
    ]
    assert receipts[1].error_message == "Absent Subscriber"
    assert receipts[0].occurred_at == datetime(2019, 11, 9, 16, 0, tzinfo=UTC)


def test_sinch_parses_recipient_and_batch_reports() -> None:
    """A per-recipient report, and a full batch report's status groups."""
    recipient = {
        "at": "2024-06-07T14:03:26.536Z",
        "batch_id": "01J06CY78GZ2F74YZNNH2VBWR6",
        "code": 401,
        "recipient": "447700900000",
        "status": "Dispatched",
        "type": "recipient_delivery_report_sms",
    }
    (receipt,) = sinch.parse(callback(orjson.dumps(recipient))).receipts
    assert (receipt.provider_message_id, receipt.status, receipt.error_code) == (
        "01J06CY78GZ2F74YZNNH2VBWR6",
        MessageStatus.SENT,
        "401",
    )
    batch = {
        "batch_id": "01J06CY78GZ2F74YZNNH2VBWR6",
        "statuses": [{"code": 0, "count": 1, "status": "Delivered", "recipients": ["4477"]}],
        "total_message_count": 1,
        "type": "delivery_report_sms",
    }
    (receipt,) = sinch.parse(callback(orjson.dumps(batch))).receipts
    assert (receipt.status, receipt.error_code) == (MessageStatus.DELIVERED, None)


def test_postmark_parses_deliveries_and_only_permanent_bounces_fail() -> None:
    delivery = {
        "RecordType": "Delivery",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "john@example.com",
        "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
        "Details": "Test delivery webhook details",
    }
    hard = {
        "RecordType": "Bounce",
        "MessageID": "883953f4",
        "Type": "HardBounce",
        "TypeCode": 1,
        "Description": "The server was unable to deliver your message",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    }
    soft = {**hard, "Type": "SoftBounce", "TypeCode": 4096}
    receipts = [
        postmark.parse(callback(orjson.dumps(r))).receipts[0] for r in (delivery, hard, soft)
    ]
    assert [(r.status, r.raw_status, r.error_code) for r in receipts] == [
        (MessageStatus.DELIVERED, "Delivery", None),
        (MessageStatus.FAILED, "Bounce:HardBounce", "1"),
        (None, "Bounce:SoftBounce", "4096"),
    ]


def test_bandwidth_parses_callbacks_and_inbound() -> None:
    events = [
        {
            "type": "message-delivered",
            "time": "2024-09-14T18:20:16Z",
            "description": "ok",
            "to": "+15554443333",
            "message": {"id": "1589228074636lm4k2je7j7jklbn2", "from": "+1555"},
        },
        {
            "type": "message-failed",
            "time": "2024-09-14T18:20:17Z",
            "errorCode": 4432,
            "description": "forbidden to country",
            "to": "+15554443333",
            "message": {"id": "1589228074636lm4k2je7j7jklbn3"},
        },
        {
            "type": "message-received",
            "time": "2024-09-14T18:20:18Z",
            "to": "+15554443333",
            "message": {"id": "in-1", "from": "+15551112222", "text": "hello"},
        },
    ]
    parsed = bandwidth.parse(callback(orjson.dumps(events)))
    assert [(r.status, r.error_code) for r in parsed.receipts] == [
        (MessageStatus.DELIVERED, None),
        (MessageStatus.UNDELIVERED, "4432"),
    ]
    assert [m.text for m in parsed.inbound] == ["hello"]


# -- Mailgun -------------------------------------------------------------------------------

MAILGUN_KEY = "key-0123456789abcdef"


def _mailgun(event_data: dict[str, Any], key: str = MAILGUN_KEY) -> bytes:
    timestamp, token = "1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), "sha256").hexdigest()
    return orjson.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event_data,
        }
    )


MAILGUN_FAILED = {
    "event": "failed",
    "severity": "permanent",
    "timestamp": 1521233195.375624,
    "id": "G9Bn5sl1TC6nu79C8C0bwg",
    "message": {"headers": {"message-id": "20130503192659.13651.20287@sandbox.mailgun.org"}},
    "delivery-status": {"code": 550, "message": "No such mailbox", "description": "Not delivered"},
}


def test_mailgun_signature_and_failure() -> None:
    """The body's HMAC; a permanent failure fails the message, a temporary one moves nothing."""
    body = _mailgun(MAILGUN_FAILED)
    mailgun.verify(callback(body), {"signing_key": MAILGUN_KEY})
    with pytest.raises(exceptions.SignatureError):
        mailgun.verify(callback(_mailgun(MAILGUN_FAILED, "other")), {"signing_key": MAILGUN_KEY})
    (receipt,) = mailgun.parse(callback(body)).receipts
    assert (receipt.provider_message_id, receipt.status, receipt.error_code) == (
        "20130503192659.13651.20287@sandbox.mailgun.org",
        MessageStatus.FAILED,
        "550",
    )
    temporary = _mailgun({**MAILGUN_FAILED, "severity": "temporary"})
    assert mailgun.parse(callback(temporary)).receipts[0].status is None


# -- Amazon SES via SNS --------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signature_v1_and_v2_with_a_configured_certificate(version: str) -> None:
    """SHA1withRSA (v1) and SHA256withRSA (v2) over the fields SNS signs; a changed field or
    another topic than the configured one is refused."""
    key, pem = certificate()
    message = sns_message(key, version)
    ses.verify(callback(orjson.dumps(message)), {"certificate": pem})
    ses.verify(
        callback(orjson.dumps(message)), {"certificate": pem, "topic_arn": message["TopicArn"]}
    )
    with pytest.raises(exceptions.SignatureError):
        ses.verify(callback(orjson.dumps({**message, "Message": "{}"})), {"certificate": pem})
    with pytest.raises(exceptions.SignatureError, match="topic"):
        ses.verify(
            callback(orjson.dumps(message)),
            {"certificate": pem, "topic_arn": "arn:aws:sns:us-west-2:1:other"},
        )
    _, other = certificate()
    with pytest.raises(exceptions.SignatureError):
        ses.verify(callback(orjson.dumps(message)), {"certificate": other})


def test_ses_parses_delivery_and_bounces() -> None:
    key, _ = certificate()
    (receipt,) = ses.parse(callback(orjson.dumps(sns_message(key, "2")))).receipts
    assert (receipt.provider_message_id, receipt.status) == (
        SES_DELIVERY["mail"]["messageId"],
        MessageStatus.DELIVERED,
    )  # type: ignore[index]
    bounce = {
        "notificationType": "Bounce",
        "mail": SES_DELIVERY["mail"],
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "timestamp": "2016-01-27T14:59:38.237Z",
            "bouncedRecipients": [
                {
                    "emailAddress": "jane@example.com",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
    }
    message = sns_message(key, "2", Message=orjson.dumps(bounce).decode())
    (receipt,) = ses.parse(callback(orjson.dumps(message))).receipts
    assert (receipt.status, receipt.raw_status, receipt.error_code) == (
        MessageStatus.FAILED,
        "Bounce:Permanent:General",
        "5.1.1",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription",
    ],
)
def test_sns_urls_on_aws_hosts_are_allowed(url: str) -> None:
    assert ses.check_aws_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com.evil.example/",
        "https://evil.example/?host=sns.us-east-1.amazonaws.com",
        "https://user@sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com:8443/",
        "https://127.0.0.1/",
    ],
)
def test_sns_urls_elsewhere_are_refused(url: str) -> None:
    """Nothing but https on an SNS host of AWS is ever fetched."""
    with pytest.raises(exceptions.ValidationError):
        ses.check_aws_url(url)


def test_sns_subscription_confirmation_names_an_allow_listed_url() -> None:
    key, pem = certificate()
    fields = {
        "Type": "SubscriptionConfirmation",
        "Token": "2336412f37",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "Message": "You have chosen to subscribe…",
    }
    message = sns_message(key, "1", **fields)
    ses.verify(callback(orjson.dumps(message)), {"certificate": pem})
    assert ses.parse(callback(orjson.dumps(message))).confirm_url == fields["SubscribeURL"]
    evil = sns_message(key, "1", **{**fields, "SubscribeURL": "https://evil.example/confirm"})
    with pytest.raises(exceptions.ValidationError):
        ses.parse(callback(orjson.dumps(evil)))


# -- the registry, credentials, mapping ----------------------------------------------------


def test_every_provider_is_registered_with_its_credentials() -> None:
    assert sorted(connectors.PROVIDERS) == [
        "bandwidth",
        "infobip",
        "mailgun",
        "plivo",
        "postmark",
        "sendgrid",
        "ses",
        "sinch",
        "telnyx",
        "twilio",
        "vonage",
    ]
    with pytest.raises(exceptions.ValidationError, match="unknown provider"):
        connectors.get("nexmo")
    with pytest.raises(exceptions.ValidationError) as missing:
        connectors.get("twilio").check_credentials({"token": "x"})
    assert {e["field"] for e in missing.value.errors} == {
        "credentials.auth_token",
        "credentials.token",
    }


@pytest.mark.parametrize(
    ("module", "raw", "status"),
    [
        (twilio, "sent", MessageStatus.SENT),
        (twilio, "delivered", MessageStatus.DELIVERED),
        (twilio, "failed", MessageStatus.FAILED),
        (twilio, "queued", None),
        (vonage, "rejected", MessageStatus.FAILED),
        (vonage, "failed", MessageStatus.UNDELIVERED),
        (infobip, "PENDING", MessageStatus.SENT),
        (infobip, "REJECTED", MessageStatus.FAILED),
        (infobip, "EXPIRED", MessageStatus.UNDELIVERED),
        (sinch, "Aborted", MessageStatus.FAILED),
        (sinch, "Expired", MessageStatus.UNDELIVERED),
        (telnyx, "sending_failed", MessageStatus.FAILED),
        (plivo, "undelivered", MessageStatus.UNDELIVERED),
        (bandwidth, "message-sending", MessageStatus.SENT),
        (sendgrid, "dropped", MessageStatus.FAILED),
        (sendgrid, "deferred", None),
        (mailgun, "delivered", MessageStatus.DELIVERED),
        (ses, "Send", MessageStatus.SENT),
        (ses, "Complaint", None),
    ],
)
def test_status_tables(module: Any, raw: str, status: MessageStatus | None) -> None:
    """Each provider's words map to ours as docs/connectors.md's table says."""
    assert module.STATUSES[raw] is status


def test_credentials_are_sealed_and_need_the_same_secret() -> None:
    """Sealed credentials hold no plaintext, open with the same secret, and not with another."""
    sealed = Sealer("server-secret").seal({"auth_token": TWILIO_TOKEN})
    assert TWILIO_TOKEN not in sealed
    assert Sealer("server-secret").open(sealed) == {"auth_token": TWILIO_TOKEN}
    with pytest.raises(exceptions.SignatureError, match="set them again"):
        Sealer("another-secret").open(sealed)


def test_malformed_bodies_are_validation_errors() -> None:
    """A verified body not in the provider's format is refused (422)."""
    for provider in (sendgrid.PROVIDER, infobip.PROVIDER, sinch.PROVIDER):
        with pytest.raises(exceptions.ValidationError):
            provider.parse(callback(b"not json"))
    with pytest.raises(exceptions.ValidationError):
        infobip.parse(callback(b'{"results": 3}'))


@pytest.mark.parametrize(
    ("provider", "credentials"),
    [
        (ses.PROVIDER, {}),
        (mailgun.PROVIDER, {"signing_key": MAILGUN_KEY}),
        (vonage.PROVIDER, {"signature_secret": VONAGE_SECRET}),
    ],
)
def test_a_body_the_signature_is_read_from_that_is_not_json_carries_none(
    provider: base.Provider, credentials: dict[str, str]
) -> None:
    """Authentication comes first: a callback whose signature lives in an unreadable body is
    unauthenticated (401), not malformed (422)."""
    with pytest.raises(exceptions.SignatureMissingError):
        provider.verify(callback(b"{not json"), credentials)


async def test_the_fetcher_refuses_anything_but_aws_before_any_io() -> None:
    """``fetch_aws`` checks the allow-list itself, whoever calls it."""
    with pytest.raises(exceptions.ValidationError):
        await fetch.fetch_aws("https://127.0.0.1/cert.pem")
