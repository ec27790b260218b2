from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks import config, durations, exceptions, retry

NOW = datetime(2025, 6, 25, 12, 0, 0, tzinfo=UTC)
POLICY = retry.RetryPolicy(schedule=durations.parse_schedule(config.DEFAULT_RETRY_SCHEDULE))
MINUTE = 60.0
HOUR = 3600.0


def no_jitter() -> float:
    return 0.0


def half_jitter() -> float:
    return 0.5


def full_jitter() -> float:
    return 0.999999


def decide(attempt, *, status=None, error=None, retry_after=None, random=no_jitter, policy=POLICY):
    outcome = retry.Outcome(status_code=status, error_kind=error, retry_after=retry_after)
    return policy.decide(attempt=attempt, outcome=outcome, now=NOW, random=random)


def after(seconds: float) -> retry.RetryDecision:
    return retry.RetryDecision(action="retry", retry_at=NOW + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (1, 5.0),
        (2, 5 * MINUTE),
        (3, 30 * MINUTE),
        (4, 2 * HOUR),
        (5, 5 * HOUR),
        (6, 10 * HOUR),
        (7, 10 * HOUR),
    ],
)
def test_default_schedule_delays(attempt, delay):
    """After failed attempt n the next one waits schedule[n] seconds."""
    assert decide(attempt, status=500) == after(delay)


@pytest.mark.parametrize("attempt", [8, 9, 100])
def test_exhausted_after_last_scheduled_attempt(attempt):
    """A failure of attempt 8 (the last of the default schedule) or later exhausts."""
    assert decide(attempt, status=500) == retry.RetryDecision(action="exhaust")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ({"status": 200}, retry.RetryDecision(action="succeed")),
        ({"status": 204}, retry.RetryDecision(action="succeed")),
        ({"status": 299}, retry.RetryDecision(action="succeed")),
        ({"status": 301}, after(5.0)),
        ({"status": 302}, after(5.0)),
        ({"status": 308}, after(5.0)),
        ({"status": 400}, after(5.0)),
        ({"status": 401}, after(5.0)),
        ({"status": 404}, after(5.0)),
        ({"status": 410}, retry.RetryDecision(action="disable")),
        ({"status": 429}, after(5.0)),
        ({"status": 500}, after(5.0)),
        ({"status": 503}, after(5.0)),
        ({"status": 101}, after(5.0)),
        ({"error": "timeout"}, after(5.0)),
        ({"error": "connect"}, after(5.0)),
        ({"error": "dns"}, after(5.0)),
        ({"error": "headers_too_large"}, after(5.0)),
        ({"error": retry.UNSAFE_URL}, after(5.0)),
        ({}, after(5.0)),
    ],
    ids=lambda value: str(value),
)
def test_classification(outcome, expected):
    """2xx succeeds, 410 disables, everything else (3xx included) is retried."""
    assert decide(1, **outcome) == expected


def test_gone_disables_even_on_the_last_attempt():
    """410 disables rather than exhausts, whatever the attempt number."""
    assert decide(8, status=410) == retry.RetryDecision(action="disable")


DISABLED = retry.RECEIVER_DISABLED_REASON


@pytest.mark.parametrize(
    ("attempt", "status", "control", "expected"),
    [
        (1, 500, "disable", retry.RetryDecision(action="disable", disable_reason=DISABLED)),
        (1, 200, "disable", retry.RetryDecision(action="succeed", disable_reason=DISABLED)),
        (8, 503, "disable", retry.RetryDecision(action="disable", disable_reason=DISABLED)),
        (1, 410, "disable", retry.RetryDecision(action="disable", disable_reason=DISABLED)),
        (1, 500, "abort-message", retry.RetryDecision(action="exhaust")),
        (1, 429, "abort-message", retry.RetryDecision(action="exhaust")),
        (1, 200, "abort-message", retry.RetryDecision(action="succeed")),
        (1, 410, "abort-message", retry.RetryDecision(action="disable")),
        (1, 500, None, after(5.0)),
    ],
)
def test_delivery_control(attempt, status, control, expected):
    """webhook-delivery: disable disables the endpoint on any answer (a 2xx stays delivered);
    abort-message ends the retries of a failed delivery and does nothing to a success."""
    outcome = retry.Outcome(status_code=status, delivery_control=control)
    assert POLICY.decide(attempt=attempt, outcome=outcome, now=NOW, random=no_jitter) == expected


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("disable", "disable"),
        (" Disable ", "disable"),
        ("ABORT-MESSAGE", "abort-message"),
        ("pause", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_delivery_control(value, parsed):
    """The header's two instructions, in any case; anything else is ignored."""
    assert retry.parse_delivery_control(value) == parsed


def test_success_on_the_last_attempt():
    """A 2xx on the last attempt still succeeds."""
    assert decide(8, status=200) == retry.RetryDecision(action="succeed")


@pytest.mark.parametrize(
    ("random", "delay"),
    [
        (no_jitter, 5 * MINUTE),
        (half_jitter, 5 * MINUTE * 1.1),
        (full_jitter, 5 * MINUTE * 1.199999_8),
    ],
)
def test_jitter_never_fires_early(random, delay):
    """The jittered delay lies in [base, base × 1.2]."""
    decision = decide(2, status=500, random=random)
    assert decision.retry_at is not None
    seconds = (decision.retry_at - NOW).total_seconds()
    assert seconds == pytest.approx(delay)
    assert 5 * MINUTE <= seconds <= 5 * MINUTE * 1.2


@pytest.mark.parametrize(
    ("status", "retry_after", "delay"),
    [
        (429, 120.0, 120.0),
        (503, 120.0, 120.0),
        (429, 1.0, 5.0),
        (429, 10 * HOUR, HOUR),
        (500, 120.0, 5.0),
        (429, None, 5.0),
    ],
)
def test_retry_after(status, retry_after, delay):
    """Retry-After on 429/503 delays to max(base, retry_after), capped at max_retry_after."""
    assert decide(1, status=status, retry_after=retry_after) == after(delay)


def test_retry_after_does_not_shorten_a_longer_base():
    """A capped Retry-After never brings a retry earlier than the schedule."""
    assert decide(6, status=429, retry_after=10 * HOUR) == after(10 * HOUR)


def test_retry_after_wins_over_jitter_when_later():
    """The jittered base is used when it is later than Retry-After."""
    assert decide(1, status=503, retry_after=5.5, random=half_jitter) == after(5.5)
    assert decide(1, status=503, retry_after=5.9, random=half_jitter) == after(5.9)


def test_single_entry_schedule_exhausts_at_once():
    """A schedule of one delay means a single attempt."""
    policy = retry.RetryPolicy(schedule=(0.0,))
    assert decide(1, status=500, policy=policy) == retry.RetryDecision(action="exhaust")


def test_from_settings_uses_retry_delays():
    """from_settings() reads the schedule of the settings."""
    settings = config.Settings(retry_schedule="0s,1m,1h")
    assert retry.RetryPolicy.from_settings(settings) == retry.RetryPolicy(
        schedule=(0.0, 60.0, 3600.0)
    )


def test_default_policy_values():
    """The defaults are ±20 % jitter and a one-hour Retry-After cap."""
    assert (POLICY.jitter, POLICY.max_retry_after, POLICY.max_attempts) == (0.2, 3600.0, 8)


@pytest.mark.parametrize(
    "kwargs",
    [{"schedule": ()}, {"schedule": (-1.0,)}, {"schedule": (0.0,), "jitter": -0.1}],
)
def test_invalid_policy_is_refused(kwargs):
    """An empty or negative schedule, or negative jitter, is a ConfigurationError."""
    with pytest.raises(exceptions.ConfigurationError):
        retry.RetryPolicy(**kwargs)


def test_attempt_numbers_start_at_one():
    """Attempt 0 is a programming error."""
    with pytest.raises(ValueError):
        decide(0, status=500)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("١٢", None),
        ("Wed, 25 Jun 2025 12:02:00 GMT", 120.0),
        ("Wed, 25 Jun 2025 11:00:00 GMT", 0.0),
        ("Wednesday, 25-Jun-25 12:00:30 GMT", 30.0),
        ("Wed Jun 25 12:00:30 2025", 30.0),
        ("Wed, 32 Jun 2025 12:00:30 GMT", None),
        ("Wed, 25 Jun 2025 12:00:30 +0000", 30.0),
        ("Mon, 01 Jan 2020 00:00:00 +99999999999999999999", None),
        ("Mon, 01 Jan 0001 00:00:00 +9999", None),
        ("9" * 5000, float("9" * 5000)),
    ],
)
def test_parse_retry_after(value, expected):
    """Retry-After parses as delta-seconds or an HTTP-date relative to now."""
    assert retry.parse_retry_after(value, NOW) == expected


def test_parse_retry_after_with_naive_now():
    """A naive ``now`` is taken as UTC."""
    naive = NOW.replace(tzinfo=None)
    assert retry.parse_retry_after("Wed, 25 Jun 2025 12:01:00 GMT", naive) == 60.0
