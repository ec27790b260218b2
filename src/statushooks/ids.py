"""Identifiers: a type prefix plus a KSUID (27 base62 characters, sortable by time).

The seeds' own ids (``evt_2z020YIp98J0ow5egHEVQJQd2Sx``, ``tid_35T5b3cQmfqTu6jcedrdVcSmNHr``) are
KSUIDs, so every id statushooks makes has the same shape: 4 bytes of seconds, then a 16-byte
payload. The KSUID spec leaves the payload opaque; ours starts with the microsecond within the
second (3 bytes) and ends with 13 random bytes (104 bits). So ids sort by creation time to the
microsecond, not just to the second, and a batch of new ids lands at the end of each B-tree
index instead of at random places in the last second's range (a SQLite drain cycle wrote 349
WAL pages, 220 with these ids: docs/architecture.md, "Performance design").

Random bytes come from a pool of ``os.urandom`` (one system call per ``POOL_BYTES``), emptied
in a forked child so that parent and child never share bytes, and taken under a lock so that
threads never do.
"""

from __future__ import annotations

import os
import re
import threading
import time

KSUID_EPOCH = 1_400_000_000  # seconds; the KSUID epoch
KSUID_LENGTH = 27
BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PREFIXES = ("acc", "key", "ep", "msg", "evt", "dlv", "att", "tid", "lnk", "cor", "inb", "cid")
ID_PATTERN = re.compile(r"^(?P<prefix>[a-z]+)_(?P<ksuid>[0-9A-Za-z]{27})$")


RANDOM_BYTES = 13  # of the payload's 16; the other 3 are the microsecond
POOL_BYTES = RANDOM_BYTES * 512
_pool = b""
_pool_at = 0
_pool_lock = threading.Lock()


def _random_bytes() -> bytes:
    """``RANDOM_BYTES`` fresh random bytes, from the pool (threads never share bytes)."""
    global _pool, _pool_at
    with _pool_lock:
        if _pool_at >= len(_pool):
            _pool, _pool_at = os.urandom(POOL_BYTES), 0
        start = _pool_at
        _pool_at += RANDOM_BYTES
        return _pool[start : start + RANDOM_BYTES]


def _forget_pool() -> None:
    global _pool, _pool_at, _pool_lock
    _pool, _pool_at, _pool_lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def ksuid(now: float | None = None) -> str:
    """A new KSUID: 4 bytes of seconds since the KSUID epoch, 3 of the microsecond within it,
    13 random bytes, base62."""
    return _ksuid(now, _random_bytes())


def _ksuid(now: float | None, payload: bytes) -> str:
    if now is None:
        now = time.time()
    seconds = int(now)
    micros = min(int((now - seconds) * 1_000_000), 999_999)
    head = (((seconds - KSUID_EPOCH) << 24) | micros).to_bytes(7, "big")
    number = int.from_bytes(head + payload, "big")
    # Three 9-digit chunks (2**160 < 62**27): the digit loops then run on small ints.
    high, rest = divmod(number, _CHUNK * _CHUNK)
    middle, low = divmod(rest, _CHUNK)
    return _chunk(high) + _chunk(middle) + _chunk(low)


_CHUNK = 62**9
_PAIRS = [a + b for a in BASE62_ALPHABET for b in BASE62_ALPHABET]


def _chunk(number: int) -> str:
    """``number`` (< 62**9) as exactly 9 base62 digits."""
    number, d1 = divmod(number, 3844)
    number, d2 = divmod(number, 3844)
    number, d3 = divmod(number, 3844)
    number, d4 = divmod(number, 3844)
    return BASE62_ALPHABET[number] + _PAIRS[d4] + _PAIRS[d3] + _PAIRS[d2] + _PAIRS[d1]


def new_id(prefix: str, now: float | None = None) -> str:
    """``prefix_`` + a KSUID, e.g. ``new_id("evt")`` → ``evt_2z020YIp98J0ow5egHEVQJQd2Sx``."""
    return f"{prefix}_{ksuid(now)}"


def first_id(prefix: str, at: float) -> str:
    """The smallest id of ``prefix`` made at unix time ``at`` (to the microsecond; times
    before the KSUID epoch count as the epoch): every id made earlier sorts before it, every id
    made at or after it does not (``id < first_id(...)``: made before). A time cursor."""
    return f"{prefix}_{_ksuid(max(at, KSUID_EPOCH), bytes(RANDOM_BYTES))}"


def has_prefix(value: str, prefix: str) -> bool:
    """Whether ``value`` is a well-formed id of the given type."""
    match = ID_PATTERN.match(value)
    return match is not None and match.group("prefix") == prefix
