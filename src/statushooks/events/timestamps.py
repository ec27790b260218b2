"""RFC 3339 UTC timestamps in the two shapes the dialects use: always four digits of year
(``strftime("%Y")`` writes year 999 as ``999`` on glibc, which neither shape allows)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

#: ``2025-06-25T12:10:47Z`` (Interact).
SECONDS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
#: ``2022-03-01T12:00:00.000Z`` (YCloud).
MILLIS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Both are cached: the events of one batch share their ``now`` (a bulk report renders it ~3
# times per report), and formatting one takes ~2 µs.
@functools.lru_cache(maxsize=1024)
def seconds(moment: datetime) -> str:
    """``2025-06-25T12:10:47Z``: UTC, whole seconds, no fraction."""
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@functools.lru_cache(maxsize=1024)
def millis(moment: datetime) -> str:
    """``2022-03-01T12:00:00.000Z``: UTC with milliseconds (truncated)."""
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
