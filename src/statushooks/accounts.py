"""Accounts and their API keys — pure. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

API_KEY_PREFIX = "sk_"
API_KEY_BYTES = 32
DISPLAY_PREFIX_LENGTH = 10


@dataclass(frozen=True, kw_only=True)
class Account:
    """A tenant: everything else belongs to exactly one account."""

    id: str
    name: str
    created_at: datetime


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
