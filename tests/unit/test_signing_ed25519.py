"""Standard Webhooks v1a (Ed25519) signatures, cross-checked with libsodium (PyNaCl)."""

from __future__ import annotations

import base64
import sys
import time
from datetime import UTC, datetime

import nacl.exceptions
import nacl.signing
import pytest
import standardwebhooks

from statushooks import receiver, signing
from statushooks.endpoints import Endpoint, EndpointSecret, new_secret

MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SEED = bytes(range(32))
SECRET_KEY = signing.new_ed25519_secret(SEED)
HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHEN = datetime.fromtimestamp(TIMESTAMP, UTC)
SIGNED = f"{MSG_ID}.{TIMESTAMP}.".encode() + BODY


def nacl_public_key(seed: bytes = SEED) -> str:
    """The whpk_ key of a seed, derived by libsodium rather than by cryptography."""
    return "whpk_" + base64.b64encode(bytes(nacl.signing.SigningKey(seed).verify_key)).decode()


def v1a_entries(header: str) -> list[bytes]:
    return [
        base64.b64decode(entry.removeprefix("v1a,"))
        for entry in header.split()
        if entry.startswith("v1a,")
    ]


def test_public_key_matches_libsodium():
    """The whpk_ key we derive from a whsk_ key is libsodium's public key of the seed."""
    assert signing.public_key_of(SECRET_KEY) == nacl_public_key()


def test_signature_equals_libsodium_signature():
    """Ed25519 is deterministic: our v1a signature is byte for byte libsodium's."""
    header = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET_KEY])
    theirs = nacl.signing.SigningKey(SEED).sign(SIGNED).signature
    assert header == "v1a," + base64.b64encode(theirs).decode()


def test_libsodium_verifies_our_signature_over_id_timestamp_body():
    """libsodium verifies the signature over "{id}.{timestamp}.{body}" and nothing else."""
    header = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET_KEY])
    [raw] = v1a_entries(header)
    verify_key = nacl.signing.SigningKey(SEED).verify_key
    assert verify_key.verify(SIGNED, raw) == SIGNED
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify_key.verify(SIGNED + b" ", raw)


def test_we_verify_a_libsodium_signature():
    """A v1a signature made by libsodium verifies with our code and the receiver SDK."""
    raw = nacl.signing.SigningKey(SEED).sign(SIGNED).signature
    header = "v1a," + base64.b64encode(raw).decode()
    assert signing.verify(
        msg_id=MSG_ID,
        timestamp=TIMESTAMP,
        body=BODY,
        signature_header=header,
        secrets=[nacl_public_key()],
    )
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": header,
    }
    receiver.verify(BODY, headers, nacl_public_key(), now=TIMESTAMP)


def test_libsodium_64_byte_secret_key_signs_the_same():
    """A whsk_ key in libsodium's 64-byte form (seed + public key) signs like its seed."""
    long_form = (
        "whsk_" + base64.b64encode(bytes(nacl.signing.SigningKey(SEED)._signing_key)).decode()
    )
    ours = signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[long_form])
    assert ours == signing.sign(msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET_KEY])


def test_v1_and_v1a_side_by_side():
    """One header carries a v1 and a v1a signature; each verifies with its own key only."""
    header = signing.sign(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[HMAC_SECRET, SECRET_KEY]
    )
    assert [entry.split(",")[0] for entry in header.split()] == ["v1", "v1a"]
    for key in (HMAC_SECRET, nacl_public_key()):
        assert signing.verify(
            msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, signature_header=header, secrets=[key]
        )
    other = nacl_public_key(bytes(32))
    assert not signing.verify(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, signature_header=header, secrets=[other]
    )


def test_standardwebhooks_verifies_the_v1_beside_a_v1a():
    """standardwebhooks (v1 only) skips the v1a entry and accepts the v1 one beside it."""
    now = int(time.time())
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=now, body=BODY, secrets=[SECRET_KEY, HMAC_SECRET]
    )
    assert standardwebhooks.Webhook(HMAC_SECRET).verify(BODY, headers) == {"test": 2432232314}


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("whpk_not*base64", "not valid base64"),
        ("whpk_" + base64.b64encode(b"short").decode(), "32 bytes"),
        (SECRET_KEY, "verify with its whpk_ public key"),
    ],
)
def test_receiver_refuses_malformed_keys(key, message):
    """A malformed public key, or a secret key given to a receiver, is an InvalidSecretError."""
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET_KEY]
    )
    with pytest.raises(receiver.InvalidSecretError, match=message):
        receiver.verify(BODY, headers, key, now=TIMESTAMP)


def test_receiver_refuses_tampered_body_and_wrong_key():
    """A changed body, or another endpoint's public key, fails verification."""
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[SECRET_KEY]
    )
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(BODY + b" ", headers, nacl_public_key(), now=TIMESTAMP)
    with pytest.raises(receiver.InvalidSignatureError):
        receiver.verify(BODY, headers, nacl_public_key(bytes(32)), now=TIMESTAMP)


def test_receiver_without_cryptography(monkeypatch):
    """Without cryptography a whpk_ key raises Ed25519UnavailableError naming the extra;
    v1 verification still works."""
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric", None)
    monkeypatch.setitem(sys.modules, "cryptography.exceptions", None)
    signing._public_key.cache_clear()
    headers = signing.webhook_headers(
        msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY, secrets=[HMAC_SECRET]
    )
    try:
        with pytest.raises(receiver.Ed25519UnavailableError, match="receiver-ed25519"):
            receiver.verify(BODY, headers, nacl_public_key(), now=TIMESTAMP)
        receiver.verify(BODY, headers, HMAC_SECRET, now=TIMESTAMP)
    finally:
        signing._public_key.cache_clear()


def test_new_v1a_secret_and_endpoint_versions():
    """new_secret("v1a") is a whsk_ key of 32 bytes; an endpoint's versions come from its
    current secrets, v1 first."""
    key = new_secret("v1a")
    assert key.startswith("whsk_") and len(base64.b64decode(key[5:])) == 32
    assert signing.public_key_of(key).startswith("whpk_")
    endpoint = Endpoint(
        id="ep_1",
        account_id="acc_1",
        url="https://example.com/hook",
        secrets=(EndpointSecret(value=key), EndpointSecret(value=new_secret())),
        created_at=WHEN,
        updated_at=WHEN,
    )
    assert endpoint.signature_versions == ("v1", "v1a")
