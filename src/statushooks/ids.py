"""Identifiers: a type prefix plus a KSUID (27 base62 characters, sortable by second).

The seeds' own ids (``evt_2z020YIp98J0ow5egHEVQJQd2Sx``, ``tid_35T5b3cQmfqTu6jcedrdVcSmNHr``) are
KSUIDs, so every id statushooks makes has the same shape.
"""

from __future__ import annotations

import os
import re
import time

KSUID_EPOCH = 1_400_000_000  # seconds; the KSUID epoch
KSUID_LENGTH = 27
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PREFIXES = ("acc", "key", "ep", "msg", "evt", "dlv", "att", "tid", "lnk", "cor")
ID_PATTERN = re.compile(r"^(?P<prefix>[a-z]+)_(?P<ksuid>[0-9A-Za-z]{27})$")


def ksuid(now: float | None = None) -> str:
    """A new KSUID: 4 bytes of seconds since the KSUID epoch, 16 random bytes, base62."""
    seconds = int(time.time() if now is None else now) - KSUID_EPOCH
    number = int.from_bytes(seconds.to_bytes(4, "big") + os.urandom(16), "big")
    # Three 9-digit chunks (2**160 < 62**27): the digit loops then run on small ints.
    high, rest = divmod(number, _CHUNK * _CHUNK)
    middle, low = divmod(rest, _CHUNK)
    return _chunk(high) + _chunk(middle) + _chunk(low)


_CHUNK = 62**9
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _chunk(number: int) -> str:
    """``number`` (< 62**9) as exactly 9 base62 digits."""
    number, d1 = divmod(number, 3844)
    number, d2 = divmod(number, 3844)
    number, d3 = divmod(number, 3844)
    number, d4 = divmod(number, 3844)
    return _ALPHABET[number] + _PAIRS[d4] + _PAIRS[d3] + _PAIRS[d2] + _PAIRS[d1]


def new_id(prefix: str, now: float | None = None) -> str:
    """``prefix_`` + a KSUID, e.g. ``new_id("evt")`` → ``evt_2z020YIp98J0ow5egHEVQJQd2Sx``."""
    return f"{prefix}_{ksuid(now)}"


def has_prefix(value: str, prefix: str) -> bool:
    """Whether ``value`` is a well-formed id of the given type."""
    match = ID_PATTERN.match(value)
    return match is not None and match.group("prefix") == prefix
