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
    chars: list[str] = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars)).rjust(KSUID_LENGTH, "0")


def new_id(prefix: str, now: float | None = None) -> str:
    """``prefix_`` + a KSUID, e.g. ``new_id("evt")`` → ``evt_2z020YIp98J0ow5egHEVQJQd2Sx``."""
    return f"{prefix}_{ksuid(now)}"


def has_prefix(value: str, prefix: str) -> bool:
    """Whether ``value`` is a well-formed id of the given type."""
    match = ID_PATTERN.match(value)
    return match is not None and match.group("prefix") == prefix
