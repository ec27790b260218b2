"""Connector credentials at rest: sealed with a key derived from the server's secret.

The key is HKDF-SHA256 of ``Settings.credentials_secret`` (``STATUSHOOKS_SECRET_KEY``, else the
admin token, else — in development only — a fixed development secret), and the credentials are a
Fernet token (AES-128-CBC with HMAC-SHA256) of their JSON. Changing that secret makes stored
credentials unreadable: the connectors' callbacks are then refused until their credentials are
set again (``PATCH /v1/connectors/{id}``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from statushooks import exceptions

KEY_INFO = b"statushooks connector credentials v1"


class Sealer:
    """Seals and opens credentials with one derived key."""

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, credentials: Mapping[str, str]) -> str:
        return self._fernet.encrypt(orjson.dumps(dict(credentials))).decode()

    def open(self, sealed: str) -> dict[str, str]:
        """The credentials; ``SignatureError`` if they were sealed with another secret."""
        try:
            opened: dict[str, str] = orjson.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise exceptions.SignatureError(
                "the connector's credentials cannot be read with this server's secret; set "
                "them again"
            ) from None
        return opened
