"""When to try a webhook delivery again — pure: the clock and the randomness are passed in.

``RetryPolicy.schedule[n]`` is the delay before attempt ``n + 1``: with the default
``0s,5s,5m,30m,2h,5h,10h,10h`` attempt 1 goes out at once, attempt 2 five seconds after
attempt 1 failed, … attempt 8 ten hours after attempt 7 failed; when attempt 8 fails the
delivery is exhausted (the dead letter).

How an attempt's outcome is classified:

===================================================  ===========================================
outcome                                              decision
===================================================  ===========================================
2xx                                                  ``succeed``
410 Gone                                             ``disable`` (the endpoint is gone for good)
``webhook-delivery: disable`` (any answer)           the endpoint is disabled: ``disable``, or
                                                     ``succeed`` on a 2xx (which stays delivered)
``webhook-delivery: abort-message`` (not 2xx)        ``exhaust`` (no more retries of this
                                                     delivery)
429 / 503 with ``Retry-After``                       ``retry`` no earlier than Retry-After
                                                     (capped at ``max_retry_after``)
3xx (redirects are never followed), other 4xx/5xx,   ``retry``, or ``exhaust`` after the last
timeouts, connection and DNS errors, an answer       scheduled attempt
whose head is too large (``headers_too_large``),
``unsafe_url`` (the SSRF guard refused the
resolved address: DNS can change, so it is retried
like any other failure, never sent)
===================================================  ===========================================

Jitter spreads retries out without ever firing early: the delay is drawn from
``[base, base × (1 + jitter)]``.
"""

from __future__ import annotations

import email.utils
import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from statushooks import exceptions

if TYPE_CHECKING:
    from statushooks.config import Settings

DEFAULT_JITTER = 0.2  # fraction of the base delay added at most
DEFAULT_MAX_RETRY_AFTER = 3600.0  # seconds; a longer Retry-After is capped to this
GONE_STATUS = 410
#: The answer header by which a receiver controls delivery (as Svix's hosted service honours).
DELIVERY_CONTROL_HEADER = "webhook-delivery"
#: Its values: disable the endpoint; stop retrying the delivery just attempted.
DISABLE = "disable"
ABORT_MESSAGE = "abort-message"
RECEIVER_DISABLED_REASON = "the endpoint answered webhook-delivery: disable"
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: ``Outcome.error_kind`` when the SSRF guard refused the endpoint's resolved address.
UNSAFE_URL = "unsafe_url"

Action = Literal["succeed", "retry", "exhaust", "disable"]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one attempt got back: a status code, or the kind of error that prevented one."""

    status_code: int | None = None
    #: ``"timeout"``, ``"connect"``, ``"dns"``, ``"headers_too_large"``, ``"unsafe_url"``, …
    #: when there is no response.
    error_kind: str | None = None
    #: Seconds from the ``Retry-After`` header (see ``parse_retry_after``).
    retry_after: float | None = None
    #: The receiver's ``webhook-delivery`` instruction: ``DISABLE``, ``ABORT_MESSAGE`` or None.
    delivery_control: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetryDecision:
    """What to do with a delivery after an attempt; ``retry_at`` is set for ``retry`` only."""

    action: Action
    retry_at: datetime | None = None
    #: Why the endpoint is to be disabled, when the receiver asked for it (a 410 is ``disable``
    #: without a reason here: ``storage.queue.GONE_REASON``).
    disable_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """A retry schedule (seconds before attempt 1, 2, …), with jitter and a Retry-After cap."""

    schedule: tuple[float, ...]
    jitter: float = DEFAULT_JITTER
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if not self.schedule or any(delay < 0 for delay in self.schedule):
            raise exceptions.ConfigurationError(
                "the retry schedule needs at least one delay, none negative"
            )
        if self.jitter < 0 or self.max_retry_after < 0:
            raise exceptions.ConfigurationError("jitter and max_retry_after must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy of ``STATUSHOOKS_RETRY_SCHEDULE``."""
        return cls(schedule=settings.retry_delays)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)

    def decide(
        self,
        *,
        attempt: int,
        outcome: Outcome,
        now: datetime,
        random: Callable[[], float] = _random.random,
    ) -> RetryDecision:
        """The decision after attempt number ``attempt`` (1-based) ended with ``outcome``.

        Args:
            random: returns a float in ``[0, 1)``; it scales the jitter.
        """
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        status = outcome.status_code
        asked_to_disable = outcome.delivery_control == DISABLE
        reason = RECEIVER_DISABLED_REASON if asked_to_disable else None
        if status is not None and 200 <= status < 300:
            return RetryDecision(action="succeed", disable_reason=reason)
        if status == GONE_STATUS or asked_to_disable:
            return RetryDecision(action="disable", disable_reason=reason)
        if attempt >= self.max_attempts or outcome.delivery_control == ABORT_MESSAGE:
            return RetryDecision(action="exhaust")
        delay = self._delay(attempt, outcome, random)
        return RetryDecision(action="retry", retry_at=now + timedelta(seconds=delay))

    def _delay(self, attempt: int, outcome: Outcome, random: Callable[[], float]) -> float:
        """Seconds until the next attempt: the jittered base, or Retry-After if later."""
        base = self.schedule[attempt]
        delay = base * (1 + self.jitter * random())
        if outcome.status_code in RETRY_AFTER_STATUSES and outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self.max_retry_after))
        return delay


def parse_delivery_control(value: str | None) -> str | None:
    """The ``webhook-delivery`` instruction in a header value (case-insensitive), or None for
    a missing or unknown one."""
    if value is None:
        return None
    text = value.strip().lower()
    return text if text in (DISABLE, ABORT_MESSAGE) else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` named by a ``Retry-After`` value: delta-seconds or an HTTP-date.

    A date in the past gives ``0.0``; a missing or malformed value gives ``None``.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    return _seconds_until_http_date(text, now)


def _seconds_until_http_date(text: str, now: datetime) -> float | None:
    """Seconds until an HTTP-date; None if it is malformed or out of range (an offset of 20
    digits overflows the C int ``email.utils`` builds it with)."""
    try:
        when = email.utils.parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None
