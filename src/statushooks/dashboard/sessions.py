"""Signed, expiring tokens: dashboard session cookies and portal links — pure.

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256)``, keyed per purpose (a session
cookie is never accepted as a portal link, nor the reverse). Nothing is stored server-side: a
token is valid until it expires, or until the credential it names stops working (a deleted API
key, a changed admin token).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from statushooks import accounts
from statushooks.config import Settings

SESSION_TTL = timedelta(hours=8)
DEFAULT_PORTAL_LINK_TTL = timedelta(hours=1)
MAX_PORTAL_LINK_TTL = timedelta(hours=24)
MIN_PORTAL_LINK_TTL = timedelta(minutes=1)
SESSION_PURPOSE = "dashboard-session"
PORTAL_PURPOSE = "portal-link"
CSRF_PURPOSE = "portal-csrf"
MAX_TOKEN_LENGTH = 2048
_PROCESS_SECRET = secrets.token_bytes(32)


class Role(enum.StrEnum):
    """Who is looking."""

    #: The admin token: every account, the queue.
    ADMIN = "admin"
    #: An account's API key: that account.
    ACCOUNT = "account"
    #: A portal link: that account, without a key.
    PORTAL = "portal"


@dataclass(frozen=True, kw_only=True)
class Session:
    """A logged-in browser, as its cookie says."""

    role: Role
    #: None for the admin.
    account_id: str | None
    #: What must still authenticate: the API key's hash, or the admin token's digest.
    credential: str
    #: The session's CSRF token: every form it posts carries it.
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class PortalGrant:
    """What a portal link opens."""

    account_id: str
    expires_at: datetime


def admin_digest(admin_token: str) -> str:
    """What an admin session remembers of the admin token (never the token itself)."""
    return hashlib.sha256(b"statushooks admin session\0" + admin_token.encode()).hexdigest()


def secret_of(settings: Settings) -> bytes:
    """The signing secret: ``session_secret``, else derived from the admin token, else random
    for this process."""
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.admin_token:
        return hmac.new(settings.admin_token.encode(), b"statushooks sessions", "sha256").digest()
    return _PROCESS_SECRET


class Signer:
    """Makes and checks the tokens, with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self._secret, purpose.encode(), "sha256").digest()

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key(purpose), body.encode(), "sha256").digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, purpose: str, token: str, now: datetime) -> dict[str, Any] | None:
        """The payload of a well-signed token that has not expired; else None."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        expected = _b64(hmac.new(self._key(purpose), body.encode(), "sha256").digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            return None
        if payload["exp"] <= now.timestamp():
            return None
        return payload

    # -- sessions --------------------------------------------------------------------------

    def new_session(
        self, role: Role, account_id: str | None, credential: str, now: datetime
    ) -> tuple[Session, str]:
        """A new session and its cookie value."""
        expires = int((now + SESSION_TTL).timestamp())
        payload = {
            "r": role.value,
            "a": account_id,
            "c": credential,
            "x": secrets.token_urlsafe(24),
            "exp": expires,
        }
        return self._session_of(payload), self.sign(SESSION_PURPOSE, payload)

    def read_session(self, cookie: str, now: datetime) -> Session | None:
        payload = self.verify(SESSION_PURPOSE, cookie, now)
        if payload is None or payload.get("r") not in (Role.ADMIN, Role.ACCOUNT):
            return None
        return self._session_of(payload)

    @staticmethod
    def _session_of(payload: dict[str, Any]) -> Session:
        return Session(
            role=Role(payload["r"]),
            account_id=payload["a"],
            credential=str(payload["c"]),
            csrf=str(payload["x"]),
            expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
        )

    # -- portal links ----------------------------------------------------------------------

    def portal_token(self, account_id: str, expires_at: datetime) -> str:
        payload = {"a": account_id, "exp": int(expires_at.timestamp()), "n": secrets.token_hex(4)}
        return self.sign(PORTAL_PURPOSE, payload)

    def read_portal(self, token: str, now: datetime) -> PortalGrant | None:
        payload = self.verify(PORTAL_PURPOSE, token, now)
        if payload is None or not isinstance(payload.get("a"), str):
            return None
        return PortalGrant(
            account_id=payload["a"], expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC)
        )

    def portal_csrf(self, token: str) -> str:
        """The CSRF token of the portal pages a link opens."""
        return _b64(hmac.new(self._key(CSRF_PURPOSE), token.encode(), "sha256").digest())


def key_credential(api_key: str) -> str:
    """What an account session remembers of its API key: the stored hash."""
    return accounts.hash_api_key(api_key)


def same_token(given: str | None, expected: str) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
