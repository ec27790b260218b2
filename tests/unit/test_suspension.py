"""The burst suspension policy: when failures suspend an endpoint, and for how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks import config, exceptions, suspension

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
POLICY = suspension.SuspensionPolicy(threshold=5, window=60.0, pauses=(30.0, 60.0, 180.0))


def burst(failures: int, *, ago: float = 10.0, suspensions: int = 0) -> suspension.Burst:
    return suspension.Burst(
        endpoint_id="ep_1",
        failures=failures,
        failures_since=NOW - timedelta(seconds=ago),
        suspensions=suspensions,
    )


@pytest.mark.parametrize(
    ("case", "until"),
    [
        (burst(4), "none"),
        (burst(5), 30.0),
        (burst(50, ago=59.0), 30.0),
        (burst(5, suspensions=1), 60.0),
        (burst(5, suspensions=2), 180.0),
        (burst(5, suspensions=9), 180.0),
        (burst(5, ago=61.0), None),
    ],
    ids=[
        "under-threshold",
        "threshold",
        "within-window",
        "second-in-a-row",
        "third",
        "last-pause-repeats",
        "spread-out",
    ],
)
def test_judge(case, until):
    """Under the threshold nothing; a burst within the window suspends for the next pause
    (growing, the last repeating); failures spread over longer than the window count again."""
    verdict = POLICY.judge(case, NOW)
    if until == "none":
        assert verdict is None
    elif until is None:
        assert verdict == suspension.Verdict(endpoint_id="ep_1", suspend_until=None)
    else:
        assert verdict == suspension.Verdict(
            endpoint_id="ep_1", suspend_until=NOW + timedelta(seconds=until)
        )


def test_threshold_zero_turns_it_off():
    """threshold 0: never suspended, however many failures."""
    off = suspension.SuspensionPolicy(threshold=0)
    assert not off.enabled
    assert off.judge(burst(1000, ago=0.0), NOW) is None


@pytest.mark.parametrize(
    "fields", [{"threshold": -1}, {"window": 0.0}, {"pauses": ()}, {"pauses": (0.0,)}]
)
def test_bad_policies_are_refused(fields):
    """A negative threshold, an empty window or a non-positive pause is a ConfigurationError."""
    with pytest.raises(exceptions.ConfigurationError):
        suspension.SuspensionPolicy(**fields)


def test_from_settings():
    """STATUSHOOKS_SUSPEND_* make the policy; a zero pause is refused as a setting."""
    settings = config.load_settings(
        suspend_after_failures=3, suspend_window="2m", suspend_pauses="10s,1m"
    )
    assert suspension.SuspensionPolicy.from_settings(settings) == suspension.SuspensionPolicy(
        threshold=3, window=120.0, pauses=(10.0, 60.0)
    )
    with pytest.raises(exceptions.ConfigurationError, match="suspend"):
        config.load_settings(suspend_pauses="0s,1m")
