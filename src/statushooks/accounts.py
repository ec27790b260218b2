"""Accounts and their API keys — pure. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
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
