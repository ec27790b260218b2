from __future__ import annotations

import base64
import inspect
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import standardwebhooks

from seed_payloads import SEED_000_FAILED as INTERACT_SMS_STATUS
from seed_payloads import SEED_002_EMAIL as YCLOUD_EMAIL
from seed_payloads import SEED_002_SMS as YCLOUD_SMS
from seed_payloads import SEED_002_VOICE as YCLOUD_VOICE
from statushooks import receiver, signing
from statushooks.events import catalog
from statushooks.receiver import _exceptions

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous secret 1234").decode()
MSG_ID = "msg_2z020YIp98J0ow5egHEVQJQd2Sx"
NOW = 1_750_853_447  # 2025-06-25T12:10:47Z
BODY = b'{"type": "sms.message.updated"}'

YCLOUD_TIME = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)


def standard_headers(body=BODY, *, secrets=(SECRET,), timestamp=NOW, msg_id=MSG_ID):
    return signing.webhook_headers(
        msg_id=msg_id, timestamp=timestamp, body=body, secrets=list(secrets)
    )


def ycloud_headers(body=BODY, *, secret=SECRET, timestamp=NOW):
    return signing.ycloud_headers(
        timestamp=timestamp, body=body, secret=secret, endpoint_id="ep_2z020YIp98J0ow5egHEVQJQd2Sx"
    )


# -- verify: Standard Webhooks -------------------------------------------------------------------


def test_verify_accepts_our_signature():
    """A request signed by statushooks verifies."""
    assert receiver.verify(BODY, standard_headers(), SECRET, now=NOW) is None


def test_verify_accepts_standardwebhooks_signature():
    """A signature made by standardwebhooks.Webhook.sign verifies."""
    when = datetime.fromtimestamp(NOW, UTC)
    signature = standardwebhooks.Webhook(SECRET).sign(MSG_ID, when, BODY.decode())
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": signature}
    receiver.verify(BODY, headers, SECRET, now=NOW)


def test_verify_accepts_str_body_and_secret_without_prefix():
    """A str body and a secret without whsec_ work too."""
    receiver.verify(BODY.decode(), standard_headers(), SECRET.removeprefix("whsec_"), now=NOW)


def test_header_names_are_case_insensitive():
    """Header names match whatever their case."""
    headers = {name.title(): value for name, value in standard_headers().items()}
    receiver.verify(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_inside_tolerance(offset):
    """A timestamp up to the tolerance away, either way, passes."""
    receiver.verify(BODY, standard_headers(), SECRET, now=NOW + offset)


@pytest.mark.parametrize(("offset", "word"), [(301, "old"), (-301, "future")])
def test_timestamp_outside_tolerance(offset, word):
    """A timestamp too old or too far ahead is refused."""
    with pytest.raises(receiver.TimestampOutOfToleranceError, match=word):
        receiver.verify(BODY, standard_headers(), SECRET, now=NOW + offset)


def test_custom_tolerance():
    """The tolerance is configurable."""
    with pytest.raises(receiver.TimestampOutOfToleranceError):
        receiver.verify(BODY, standard_headers(), SECRET, now=NOW + 11, tolerance=10)


@pytest.mark.parametrize(
    "secrets",
    [SECRET, OLD_SECRET, [OLD_SECRET], [SECRET, OLD_SECRET], ("whsec_AAAA", SECRET)],
)
def test_rotation_any_signature_and_any_secret(secrets):
    """With two signatures in the header and/or several secrets, any match passes."""
    headers = standard_headers(secrets=(SECRET, OLD_SECRET))
    receiver.verify(BODY, headers, secrets, now=NOW)


def test_rotation_new_secret_only_signature():
    """A receiver holding old and new secrets accepts a header signed with the new one only."""
    receiver.verify(BODY, standard_headers(), [OLD_SECRET, SECRET], now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}),
        lambda body, headers: (body, {**headers, "webhook-timestamp": str(NOW + 1)}),
        lambda body, headers: (body, {**headers, "webhook-signature": "v1,AAAA"}),
        lambda body, headers: (body, {**headers, "webhook-signature": "v2,whatever"}),
    ],
    ids=["body", "id", "timestamp", "signature", "version"],
)
def test_tampering_is_refused(tamper):
    """Any change to the body or the signed headers fails verification."""
    body, headers = tamper(BODY, standard_headers())
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(body, headers, SECRET, now=NOW)


def test_wrong_secret_is_refused():
    """A signature made with another secret fails."""
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(BODY, standard_headers(), OLD_SECRET, now=NOW)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_standard_header(drop):
    """Any one of the three Standard Webhooks headers missing is reported by name."""
    headers = {k: v for k, v in standard_headers().items() if k != drop}
    with pytest.raises(receiver.MissingHeadersError, match=drop):
        receiver.verify(BODY, headers, SECRET, now=NOW)


def test_no_signature_headers():
    """A request with no signature header at all is refused."""
    with pytest.raises(receiver.MissingHeadersError):
        receiver.verify(BODY, {"content-type": "application/json"}, SECRET, now=NOW)


@pytest.mark.parametrize("timestamp", ["soon", "1.5", "-1", "١٢٣", "9" * 5000, "1" * 5000])
def test_malformed_timestamp(timestamp):
    """A non-integer webhook-timestamp is an InvalidHeadersError."""
    headers = {**standard_headers(), "webhook-timestamp": timestamp}
    with pytest.raises(receiver.InvalidHeadersError):
        receiver.verify(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("secret", ["", [], ["", SECRET], ()])
def test_empty_secret(secret):
    """An empty secret (or none) is an InvalidSecretError inside the one tree."""
    with pytest.raises(receiver.InvalidSecretError) as info:
        receiver.verify(BODY, standard_headers(), secret, now=NOW)
    assert isinstance(info.value, receiver.WebhookVerificationError)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!!", "whsec_a"])
def test_malformed_secret_is_chained(secret):
    """A secret that is not base64 is an InvalidSecretError chained to its cause."""
    with pytest.raises(receiver.InvalidSecretError) as info:
        receiver.verify(BODY, standard_headers(), secret, now=NOW)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("x\ud800", standard_headers()),
        (BODY, {**standard_headers(), "webhook-signature": "v1,\ud800"}),
        (BODY, {**standard_headers(), "webhook-id": "\ud800"}),
        (BODY, {"YCloud-Signature": "t=" + "9" * 5000 + ",s=abc"}),
        (BODY, {"YCloud-Signature": "t=1750853447,s=\ud800"}),
        ("x\udc00", ycloud_headers()),
    ],
)
def test_every_failure_is_a_receiver_error(body, headers):
    """Hostile headers and bodies fail as a ReceiverError, never as a bare ValueError (a
    5,000-digit webhook-timestamp raised one from int())."""
    with pytest.raises(receiver.ReceiverError):
        receiver.verify(body, headers, SECRET, now=NOW)


def test_verify_without_now_uses_the_clock():
    """now defaults to the current time, so an old timestamp is refused."""
    with pytest.raises(receiver.TimestampOutOfToleranceError):
        receiver.verify(BODY, standard_headers(timestamp=1_000_000_000), SECRET)


# -- verify: YCloud ------------------------------------------------------------------------------


def test_ycloud_signature_verifies():
    """A YCloud-Signature header made by statushooks verifies."""
    receiver.verify(BODY, ycloud_headers(), SECRET, now=NOW)


def test_ycloud_header_is_case_insensitive_and_secret_used_as_is():
    """The YCloud header name is case-insensitive; any secret string works as the key."""
    headers = {k.lower(): v for k, v in ycloud_headers(secret="not base64 at all!").items()}
    receiver.verify(BODY, headers, "not base64 at all!", now=NOW)


def test_ycloud_rotation():
    """With several secrets, a YCloud signature made with any of them passes."""
    receiver.verify(BODY, ycloud_headers(secret=OLD_SECRET), [SECRET, OLD_SECRET], now=NOW)


def test_ycloud_tampering_is_refused():
    """A changed body or another secret fails the YCloud check."""
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(BODY + b"x", ycloud_headers(), SECRET, now=NOW)
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(BODY, ycloud_headers(), OLD_SECRET, now=NOW)


def test_ycloud_tolerance():
    """The YCloud timestamp is checked against the tolerance."""
    with pytest.raises(receiver.TimestampOutOfToleranceError):
        receiver.verify(BODY, ycloud_headers(), SECRET, now=NOW + 301)


@pytest.mark.parametrize("header", ["", "t=1", "s=abc", "t=x,s=abc"])
def test_ycloud_malformed_header(header):
    """A malformed YCloud-Signature is an InvalidHeadersError chained to its cause."""
    with pytest.raises(receiver.InvalidHeadersError) as info:
        receiver.verify(BODY, {"YCloud-Signature": header}, SECRET, now=NOW)
    assert isinstance(info.value.__cause__, ValueError)


def test_standard_headers_win_over_ycloud():
    """When both header sets are present the Standard Webhooks ones are checked."""
    headers = {**ycloud_headers(), "webhook-id": MSG_ID}
    with pytest.raises(receiver.MissingHeadersError):
        receiver.verify(BODY, headers, SECRET, now=NOW)


# -- parse ---------------------------------------------------------------------------------------


def test_parse_interact_sms_status():
    """The seed 000 example parses into InteractSmsStatusEvent."""
    event = receiver.parse(INTERACT_SMS_STATUS)
    assert isinstance(event, receiver.InteractSmsStatusEvent)
    assert event.id == "evt_2z020YIp98J0ow5egHEVQJQd2Sx"
    assert event.time == datetime(2025, 6, 25, 12, 10, 47, tzinfo=UTC)
    assert event.correlation_id == "anexternallyassignedreference"
    assert event.transaction_id == "tid_35T5b3cQmfqTu6jcedrdVcSmNHr"
    assert event.data == receiver.InteractSmsStatusData(
        status="failed",
        channel="sms",
        phone_number="+447810000001",
        from_="Name",
        message_body="This is your message",
        message_parts="1",
        scheduled_at=datetime(2025, 6, 30, 12, 8, 43, tzinfo=UTC),
        list_id="18920476",
        custom_id="123",
        campaign_name="Some campaign",
        campaign_id="cmp_214r8u4981u498",
    )
    assert event.data.message_parts_count == 1
    assert event.raw["data"]["from"] == "Name"


def test_parse_interact_optional_fields_absent():
    """Optional Interact fields are None when absent."""
    document = json.loads(INTERACT_SMS_STATUS)
    for name in ("scheduled_at", "list_id", "custom_id", "campaign_name", "campaign_id"):
        del document["data"][name]
    del document["correlation_id"]
    event = receiver.parse(json.dumps(document).encode())
    assert isinstance(event, receiver.InteractSmsStatusEvent)
    assert event.correlation_id is None
    assert (event.data.scheduled_at, event.data.list_id, event.data.campaign_id) == (
        None,
        None,
        None,
    )


def test_parse_ycloud_sms():
    """The seed 002 sms.message.updated example parses into YCloudSmsUpdatedEvent."""
    event = receiver.parse(YCLOUD_SMS.encode())
    assert isinstance(event, receiver.YCloudSmsUpdatedEvent)
    assert (event.id, event.type, event.api_version) == (
        "evt_djeIQXaQPQyUcRFi",
        "sms.message.updated",
        "v2",
    )
    assert event.create_time == YCLOUD_TIME
    assert event.sms == receiver.YCloudSms(
        id="string",
        to="+447901614024",
        status="delivered",
        text="Your verification code is 123456.",
        sender_id="YCloud",
        region_code="GB",
        total_segments=1,
        total_price=Decimal("0.0085"),
        currency="USD",
        create_time=YCLOUD_TIME,
        update_time=YCLOUD_TIME,
    )


def test_parse_ycloud_voice():
    """The seed 002 voice.message.updated example parses into YCloudVoiceUpdatedEvent."""
    event = receiver.parse(YCLOUD_VOICE)
    assert isinstance(event, receiver.YCloudVoiceUpdatedEvent)
    assert event.voice == receiver.YCloudVoice(
        id="v123456",
        to="+447901614024",
        status="delivered",
        verification_code="1234",
        language="en",
        region_code="GB",
        total_price=Decimal("0.0085"),
        currency="USD",
        error_code="Error code when the message is undeliverable.",
        external_id="ext_123456",
        create_time=YCLOUD_TIME,
        update_time=YCLOUD_TIME,
    )


def test_parse_ycloud_email():
    """The seed 002 email.delivery.updated example parses into YCloudEmailDeliveryUpdatedEvent."""
    event = receiver.parse(YCLOUD_EMAIL)
    assert isinstance(event, receiver.YCloudEmailDeliveryUpdatedEvent)
    assert event.create_time == YCLOUD_TIME
    assert event.email_delivery == receiver.YCloudEmailDelivery(
        email_id="em123456",
        recipient_address="user@example.com",
        status="failed",
        error_code="402",
        error_message="Unsubscribes",
        external_id="ext_1234567890",
    )


def test_event_classes_name_their_type():
    """Each event class carries the wire type it parses."""
    for body in (INTERACT_SMS_STATUS, YCLOUD_SMS, YCLOUD_VOICE, YCLOUD_EMAIL):
        event = receiver.parse(body)
        assert event.TYPE == event.type


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", receiver.MalformedPayloadError),
        (b"\xff\xfe\x00", receiver.MalformedPayloadError),
        (b"[1, 2]", receiver.MalformedPayloadError),
        (b"{}", receiver.MalformedPayloadError),
        (b'{"type": 7}', receiver.MalformedPayloadError),
        (b'{"type": "sms.message.deleted"}', receiver.UnknownEventTypeError),
        (
            YCLOUD_SMS.replace('"totalSegments": 1', '"totalSegments": "1"'),
            receiver.MalformedPayloadError,
        ),
        (
            YCLOUD_SMS.replace('"totalPrice": 0.0085', '"totalPrice": true'),
            receiver.MalformedPayloadError,
        ),
        (YCLOUD_SMS.replace('"to": "+447901614024",', ""), receiver.MalformedPayloadError),
        (
            YCLOUD_VOICE.replace('"2022-03-01T12:00:00.000Z"', '"yesterday"'),
            receiver.MalformedPayloadError,
        ),
        (
            INTERACT_SMS_STATUS.replace('"message_parts": "1"', '"message_parts": "one"'),
            receiver.MalformedPayloadError,
        ),
        (
            INTERACT_SMS_STATUS.replace('"data": {', '"data": [{').replace('"\n},', '"\n}],'),
            receiver.MalformedPayloadError,
        ),
    ],
)
def test_parse_errors(body, error):
    """Malformed JSON, wrong shapes and unknown types are WebhookPayloadErrors."""
    with pytest.raises(error) as info:
        receiver.parse(body)
    assert isinstance(info.value, receiver.WebhookPayloadError)
    assert isinstance(info.value, receiver.ReceiverError)


def test_parse_accepts_int_message_parts_and_naive_times():
    """An integer message_parts is kept as a string; a time without offset is UTC."""
    document = json.loads(INTERACT_SMS_STATUS)
    document["data"]["message_parts"] = 3
    document["time"] = "2025-06-25T12:10:47"
    event = receiver.parse(json.dumps(document))
    assert isinstance(event, receiver.InteractSmsStatusEvent)
    assert (event.data.message_parts, event.data.message_parts_count) == ("3", 3)
    assert event.time.tzinfo is UTC


def test_verify_and_parse():
    """verify_and_parse() verifies, then returns the typed event."""
    body = YCLOUD_EMAIL.encode()
    event = receiver.verify_and_parse(body, ycloud_headers(body), SECRET, now=NOW)
    assert isinstance(event, receiver.YCloudEmailDeliveryUpdatedEvent)


def test_verify_and_parse_verifies_first():
    """verify_and_parse() never parses an unverified body."""
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify_and_parse(b"not json", standard_headers(), SECRET, now=NOW)


# -- the package ---------------------------------------------------------------------------------


def test_exported_members():
    """Every name in __all__ exists, __all__ is sorted, and public objects are exported."""
    assert receiver.__all__ == sorted(receiver.__all__, key=lambda name: (not name.isupper(), name))
    for name in receiver.__all__:
        assert hasattr(receiver, name), name
    public = {
        name
        for name, value in vars(receiver).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert public <= set(receiver.__all__)


def test_every_exception_is_exported_under_one_root():
    """Every receiver exception is exported and derives from ReceiverError."""
    classes = [
        value
        for value in vars(_exceptions).values()
        if inspect.isclass(value) and issubclass(value, Exception)
    ]
    assert len(classes) == 11
    for cls in classes:
        assert cls.__name__ in receiver.__all__
        assert issubclass(cls, receiver.ReceiverError)
        assert cls().message == cls.__doc__


def test_import_pulls_in_no_third_party_module():
    """Importing statushooks.receiver loads the standard library only."""
    code = (
        "import sys; before = set(sys.modules); import statushooks.receiver; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    top_level = {name.partition(".")[0] for name in loaded}
    assert not top_level - set(sys.stdlib_module_names) - {"statushooks"}
    assert not top_level & {"pydantic", "sqlalchemy", "aiohttp", "fastapi", "standardwebhooks"}
    assert not loaded & {"statushooks.config", "statushooks.service", "statushooks.storage"}


@pytest.mark.parametrize("name", receiver.OPERATIONAL_TYPES)
def test_parse_operational_events(name):
    """Each operational event's catalog example parses as an OperationalEvent."""
    example = dict(catalog.get(name).example)
    event = receiver.parse(json.dumps(example))
    assert isinstance(event, receiver.OperationalEvent)
    assert (event.id, event.type) == (example["id"], name)
    assert event.endpoint_id == example["data"]["endpoint"]["id"]
    assert event.data == example["data"]
    with pytest.raises(receiver.MalformedPayloadError):
        receiver.parse(json.dumps({**example, "data": {}}))
