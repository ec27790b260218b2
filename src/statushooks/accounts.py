"""Accounts and their API keys — pure. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from statushooks import exceptions

API_KEY_PREFIX = "sk_"
API_KEY_BYTES = 32
DISPLAY_PREFIX_LENGTH = 10
MAX_FRAME_ANCESTORS = 20
MAX_BRAND_NAME = 100
MAX_LOGO_URL = 2000
#: ``#rrggbb``: the portal's accent colour.
ACCENT_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
#: ``scheme://host[:port]``: an origin that may frame the portal.
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")


@dataclass(frozen=True, kw_only=True)
class PortalSettings:
    """How an account's customer portal looks and where it may be embedded."""

    #: Shown in the portal's header instead of "statushooks".
    brand_name: str | None = None
    #: An ``https://`` (or ``http://``) image shown beside the brand name.
    logo_url: str | None = None
    #: ``#rrggbb``; None: the default blue.
    accent_color: str | None = None
    #: Origins (``https://app.example.com``) whose pages may show the portal in an iframe
    #: (``Content-Security-Policy: frame-ancestors``); empty: none may.
    frame_ancestors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "brand_name": self.brand_name,
            "logo_url": self.logo_url,
            "accent_color": self.accent_color,
            "frame_ancestors": list(self.frame_ancestors),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> PortalSettings:
        if not value:
            return cls()
        return cls(
            brand_name=value.get("brand_name"),
            logo_url=value.get("logo_url"),
            accent_color=value.get("accent_color"),
            frame_ancestors=tuple(value.get("frame_ancestors") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class Account:
    """A tenant: everything else belongs to exactly one account."""

    id: str
    name: str
    created_at: datetime
    portal: PortalSettings = field(default_factory=PortalSettings)


def check_portal_settings(portal: PortalSettings) -> PortalSettings:
    """``portal`` if every field is well-formed (origins lower-cased, no duplicates).

    Raises:
        ValidationError: naming each bad field.
    """
    errors: list[dict[str, str]] = []
    if portal.brand_name is not None and not 0 < len(portal.brand_name) <= MAX_BRAND_NAME:
        errors.append({"field": "brand_name", "message": f"1 to {MAX_BRAND_NAME} characters"})
    if portal.logo_url is not None and not _is_image_url(portal.logo_url):
        errors.append({"field": "logo_url", "message": "an http:// or https:// URL"})
    if portal.accent_color is not None and not ACCENT_PATTERN.match(portal.accent_color):
        errors.append({"field": "accent_color", "message": "a colour as #rrggbb"})
    origins = tuple(dict.fromkeys(origin.lower() for origin in portal.frame_ancestors))
    if len(origins) > MAX_FRAME_ANCESTORS:
        errors.append(
            {"field": "frame_ancestors", "message": f"at most {MAX_FRAME_ANCESTORS} origins"}
        )
    errors.extend(
        {"field": "frame_ancestors", "message": f"{origin!r} is not an origin (scheme://host)"}
        for origin in origins
        if not ORIGIN_PATTERN.match(origin)
    )
    if errors:
        fields = ", ".join(dict.fromkeys(error["field"] for error in errors))
        raise exceptions.ValidationError(f"invalid portal settings: {fields}", errors=errors)
    return PortalSettings(
        brand_name=portal.brand_name,
        logo_url=portal.logo_url,
        accent_color=portal.accent_color.lower() if portal.accent_color else None,
        frame_ancestors=origins,
    )


def _is_image_url(url: str) -> bool:
    if len(url) > MAX_LOGO_URL or any(ch in url for ch in "\"'<> \n\r\t"):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """An API key as stored: its hash and a short prefix to recognise it by."""

    id: str
    account_id: str
    prefix: str
    key_hash: str
    created_at: datetime


def new_api_key() -> str:
    """A new plaintext API key, ``sk_`` + 43 url-safe characters."""
    return API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)


def hash_api_key(plaintext: str) -> str:
    """The stored form of a key: hex SHA-256 (keys are random, so no salt is needed)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def display_prefix(plaintext: str) -> str:
    return plaintext[:DISPLAY_PREFIX_LENGTH]


class KeyCache:
    """Which account each recently seen API key hash belongs to, for ``ttl`` seconds.

    Bounded (the oldest entry goes first past ``size``); only keys that were found are kept, so
    a key made a moment ago in another process works at once. A deleted key keeps working in
    *other* processes until its entry expires (at most ``ttl``); the deleting process
    ``clear()``s its own cache at once.
    """

    def __init__(self, *, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        #: Bumped by ``clear()``: an answer looked up before a clear is not kept after it.
        self.generation = 0

    def get(self, key_hash: str) -> str | None:
        """The account id of ``key_hash`` if seen within ``ttl``; else None."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        account_id, expires = entry
        if self._clock() >= expires:
            del self._entries[key_hash]
            return None
        return account_id

    def put(self, key_hash: str, account_id: str, *, generation: int) -> None:
        """Remember ``account_id`` for ``key_hash``, unless the cache was cleared since the
        lookup began (``generation`` as it was then): the key may have been deleted."""
        if generation != self.generation:
            return
        self._entries.pop(key_hash, None)
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key_hash] = (account_id, self._clock() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
