from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from statushooks import signing

# The Standard Webhooks reference vector (standardwebhooks tests; checked with openssl).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret, 24 bytes").decode()

# YCloud: hex HMAC-SHA256 keyed with the whole secret string (checked with openssl).
YCLOUD_TIMESTAMP = 1654084800
YCLOUD_BODY = b'{"id":"evt_djeIQXaQPQyUcRFi","type":"sms.message.updated"}'
YCLOUD_DIGEST = "9cd058d08f551014b06a108c5d30da363303a4b8af8be898da076ef4dbb03cfa"


def test_sign_matches_reference_vector():
    """sign() reproduces the Standard Webhooks reference signature."""
    signed = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET])
    assert signed == SIGNATURE


def test_sign_accepts_secret_without_prefix():
    """A secret without ``whsec_`` signs like the prefixed one."""
    bare = SECRET.removeprefix("whsec_")
    assert signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[bare]) == SIGNATURE


def test_webhook_headers_carry_id_timestamp_and_signature():
    """webhook_headers() gives the three Standard Webhooks headers."""
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET]
    )
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": SIGNATURE,
    }


def test_sign_equals_standardwebhooks_sign():
    """Our signature equals standardwebhooks.Webhook.sign for the same input."""
    when = datetime.fromtimestamp(TIMESTAMP, UTC)
    theirs = standardwebhooks.Webhook(OTHER_SECRET).sign(MSG_ID, when, BODY.decode())
    ours = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[OTHER_SECRET])
    assert ours == theirs


def test_standardwebhooks_verifies_our_headers():
    """standardwebhooks.Webhook.verify accepts headers we produce (current timestamp)."""
    now = int(time.time())
    headers = signing.webhook_headers(msg_id=MSG_ID, timestamp=now, body=BODY, secrets=[SECRET])
    assert standardwebhooks.Webhook(SECRET).verify(BODY, headers) == {"test": 2432232314}


def test_rotation_signs_with_every_secret():
    """Two live secrets give two space-separated signatures, each verifiable alone."""
    now = int(time.time())
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=now, body=BODY, secrets=[OTHER_SECRET, SECRET]
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (OTHER_SECRET, SECRET):
        standardwebhooks.Webhook(secret).verify(BODY, headers)


def test_verify_accepts_any_live_secret():
    """verify() passes when any signature matches any secret."""
    header = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET])
    assert signing.verify(
        msg_id=MSG_ID,
        timestamp=TIMESTAMP,
        body=BODY,
        signature_header=f"v1,bm9wZQ== {header}",
        secrets=[OTHER_SECRET, SECRET],
    )


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("msg_other", TIMESTAMP, BODY),
        (MSG_ID, TIMESTAMP + 1, BODY),
        (MSG_ID, TIMESTAMP, BODY + b" "),
    ],
    ids=["id", "timestamp", "body"],
)
def test_verify_refuses_tampering(msg_id, timestamp, body):
    """Changing the id, timestamp or body breaks the signature."""
    assert not signing.verify(
        msg_id=msg_id, timestamp=timestamp, body=body, signature_header=SIGNATURE, secrets=[SECRET]
    )


@pytest.mark.parametrize(
    ("header", "count"),
    [
        (SIGNATURE, 1),
        (f"v2,abc {SIGNATURE}", 1),
        ("v1,!!notbase64!! junk", 0),
        ("", 0),
    ],
)
def test_parse_signature_header_keeps_valid_v1_only(header, count):
    """Only well-formed v1 entries are kept from a webhook-signature value."""
    assert len(signing.parse_signature_header(header)) == count


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_!!!", "whsec_a"])
def test_decode_secret_refuses_malformed(secret):
    """An empty or non-base64 secret is a ValueError."""
    with pytest.raises(ValueError):
        signing.decode_secret(secret)


def test_decode_secret_tolerates_missing_padding():
    """Unpadded base64 decodes, as in standardwebhooks."""
    assert signing.decode_secret("whsec_YWJj") == signing.decode_secret("whsec_YWJj=") == b"abc"
    assert signing.decode_secret("whsec_YWI") == b"ab"


def test_sign_without_secrets_is_refused():
    """Signing needs at least one secret."""
    with pytest.raises(ValueError):
        signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[])


def test_ycloud_headers_match_fixed_vector():
    """ycloud_headers() signs ``{t}.{body}`` with the whole secret string as the key."""
    headers = signing.ycloud_headers(
        timestamp=YCLOUD_TIMESTAMP, body=YCLOUD_BODY, secret=SECRET, endpoint_id="ep_1"
    )
    assert headers == {
        "YCloud-Signature": f"t={YCLOUD_TIMESTAMP},s={YCLOUD_DIGEST}",
        "X-Webhook-Endpoint-ID": "ep_1",
    }


def test_ycloud_verify_round_trip_and_tamper():
    """verify_ycloud() accepts our header and refuses a changed body or another secret."""
    header = signing.ycloud_headers(
        timestamp=YCLOUD_TIMESTAMP, body=YCLOUD_BODY, secret=SECRET, endpoint_id="ep_1"
    )["YCloud-Signature"]
    assert signing.verify_ycloud(header=header, body=YCLOUD_BODY, secrets=[OTHER_SECRET, SECRET])
    assert not signing.verify_ycloud(header=header, body=YCLOUD_BODY + b" ", secrets=[SECRET])
    assert not signing.verify_ycloud(header=header, body=YCLOUD_BODY, secrets=[OTHER_SECRET])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"t=1,s={YCLOUD_DIGEST}", (1, [YCLOUD_DIGEST])),
        (f" s={YCLOUD_DIGEST.upper()} , t=7 ", (7, [YCLOUD_DIGEST])),
    ],
)
def test_parse_ycloud_header(header, expected):
    """The YCloud header parses in any order, with a lowercased digest."""
    assert signing.parse_ycloud_header(header) == expected


@pytest.mark.parametrize("header", ["", "t=1", "s=ab", "t=x,s=ab", "t=1,t=2,s=ab", "t=-1,s=ab"])
def test_parse_ycloud_header_refuses_malformed(header):
    """A YCloud header without one integer t and an s is a ValueError."""
    with pytest.raises(ValueError):
        signing.parse_ycloud_header(header)


def test_ycloud_headers_refuse_empty_secret():
    """An empty secret cannot sign."""
    with pytest.raises(ValueError):
        signing.ycloud_headers(timestamp=1, body=b"", secret="", endpoint_id="ep_1")
