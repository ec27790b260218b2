"""Short suspension of an endpoint on a burst of failures — pure: the clock is passed in.

Beside the long-term auto-disable (every attempt failing for days), an endpoint whose recent
attempts all fail in a burst is paused for a short while, as YCloud does (3 minutes), instead of
spending every queued delivery's retry budget on it:

* the failed attempts since its last success (or its last suspension) are counted, with when
  the first of them was made (``endpoints.failures``, ``failures_since``);
* once ``threshold`` of them were made within ``window`` seconds, the endpoint is suspended
  for the next pause of ``pauses`` (growing with each suspension in a row; the last repeats)
  and the count starts again; failures spread over longer than ``window`` start it again too;
* a successful attempt ends it all: counts, suspensions in a row and any pause.

While suspended the dispatcher claims nothing for it; it resumes by itself when the pause is
over (its deliveries, still pending, go out again as they come due).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from statushooks import exceptions

if TYPE_CHECKING:
    from statushooks.config import Settings

DEFAULT_THRESHOLD = 10  # failed attempts in a row
DEFAULT_WINDOW = 60.0  # seconds those failures must fall within
DEFAULT_PAUSES = (30.0, 60.0, 120.0, 180.0)  # seconds; the last repeats


@dataclass(frozen=True, kw_only=True)
class Burst:
    """An endpoint's failed attempts since its last success or suspension."""

    endpoint_id: str
    failures: int
    failures_since: datetime | None
    #: Suspensions in a row (since its last success).
    suspensions: int


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What to do with an endpoint whose failures reached the threshold."""

    endpoint_id: str
    #: Suspend until then; None: the failures were no burst, count again.
    suspend_until: datetime | None


@dataclass(frozen=True, kw_only=True)
class SuspensionPolicy:
    """When a burst of failures suspends an endpoint, and for how long."""

    #: Failed attempts in a row that make a burst; 0 turns suspension off.
    threshold: int = DEFAULT_THRESHOLD
    window: float = DEFAULT_WINDOW
    pauses: tuple[float, ...] = DEFAULT_PAUSES

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.window <= 0:
            raise exceptions.ConfigurationError(
                "the suspension threshold must be >= 0 and its window > 0"
            )
        if not self.pauses or any(pause <= 0 for pause in self.pauses):
            raise exceptions.ConfigurationError("suspension pauses must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> SuspensionPolicy:
        return cls(
            threshold=settings.suspend_after_failures,
            window=settings.suspend_window_seconds,
            pauses=settings.suspend_pause_delays,
        )

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def pause(self, suspensions: int) -> float:
        """Seconds of the next pause after ``suspensions`` in a row."""
        return self.pauses[min(suspensions, len(self.pauses) - 1)]

    def judge(self, burst: Burst, now: datetime) -> Verdict | None:
        """None while the failures are under the threshold; else suspend (a burst) or count
        again (failures spread over more than the window)."""
        if not self.enabled or burst.failures < self.threshold:
            return None
        started = burst.failures_since or now
        if (now - started).total_seconds() > self.window:
            return Verdict(endpoint_id=burst.endpoint_id, suspend_until=None)
        until = now + timedelta(seconds=self.pause(burst.suspensions))
        return Verdict(endpoint_id=burst.endpoint_id, suspend_until=until)
