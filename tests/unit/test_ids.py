"""Ids: prefixed KSUIDs that sort by creation time to the microsecond."""

from __future__ import annotations

import concurrent.futures
import os
import re

import pytest

from statushooks import ids


def test_ids_are_prefixed_ksuids() -> None:
    """Ids are prefix_ + 27 base62 characters, distinct, and sortable by second."""
    made = [ids.new_id("evt", now=1_700_000_000 + i) for i in range(3)]
    assert all(re.fullmatch(r"evt_[0-9A-Za-z]{27}", value) for value in made)
    assert made == sorted(made)
    assert len({ids.new_id("evt") for _ in range(100)}) == 100
    assert ids.has_prefix(made[0], "evt") and not ids.has_prefix(made[0], "msg")


def test_ids_of_one_second_sort_by_microsecond() -> None:
    """Within a second, a later microsecond sorts later, whatever the random bytes; the last
    microsecond of a second sorts before the next second."""
    second = 1_700_000_000
    made = [ids.new_id("att", now=second + micros / 1_000_000) for micros in range(0, 10**6, 997)]
    made.append(ids.new_id("att", now=second + 0.999999))
    made.append(ids.new_id("att", now=second + 1))
    assert made == sorted(made)


def _time_part(value: str) -> int:
    """The first 7 bytes of an id's KSUID (seconds and microsecond), decoded from base62."""
    number = 0
    for char in value.partition("_")[2]:
        number = number * 62 + ids.BASE62_ALPHABET.index(char)
    return number >> (8 * ids.RANDOM_BYTES)


def test_ids_made_in_a_row_sort_in_order() -> None:
    """Ids made one after the other carry non-decreasing times (ids of one microsecond are in
    the order of their random bytes)."""
    made = [ids.new_id("dlv") for _ in range(2_000)]
    times = [_time_part(value) for value in made]
    assert times == sorted(times)


def test_ids_keep_104_random_bits() -> None:
    """Ids of the same microsecond differ: 13 random bytes each."""
    now = 1_700_000_000.25
    made = {ids.new_id("evt", now=now) for _ in range(10_000)}
    assert len(made) == 10_000


def test_threads_never_share_random_bytes() -> None:
    """Ids made at the same time by several threads are all distinct."""
    now = 1_700_000_000.75
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(
            pool.map(lambda _: [ids.new_id("evt", now=now) for _ in range(5_000)], range(4))
        )
    assert len({value for batch in batches for value in batch}) == 20_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_reuses_the_parents_random_bytes() -> None:
    now = 1_700_000_000.5
    ids.new_id("evt", now=now)  # the pool is filled and partly used
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id with the same time, sent to the parent
        try:
            os.write(write_end, ids.new_id("evt", now=now).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert ids.has_prefix(child_id, "evt")
    assert child_id != ids.new_id("evt", now=now)
