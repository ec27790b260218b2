"""Settings and durations."""

from __future__ import annotations

import pytest

from statushooks import config, durations, exceptions


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0.0),
        ("5s", 5.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("5d", 432000.0),
        ("250ms", 0.25),
        ("7", 7.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    """Durations parse with their unit; a bare number is seconds."""
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1s", "m5", "5 minutes"])
def test_parse_duration_rejects(text: str) -> None:
    """Anything else is a ConfigurationError saying how to write one."""
    with pytest.raises(exceptions.ConfigurationError, match="invalid duration"):
        durations.parse_duration(text)


def test_format_duration_round_trips() -> None:
    """format_duration gives the shortest exact spelling."""
    assert [durations.format_duration(s) for s in (300, 7200, 5, 90, 0.5)] == [
        "5m",
        "2h",
        "5s",
        "90s",
        "0.5s",
    ]


def test_default_retry_schedule() -> None:
    """The default schedule is 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""
    assert config.load_settings().retry_delays == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """STATUSHOOKS_* variables set the settings; a trailing slash of the base URL is dropped."""
    monkeypatch.setenv("STATUSHOOKS_RETRY_SCHEDULE", "5s,5m,1h")
    monkeypatch.setenv("STATUSHOOKS_PUBLIC_BASE_URL", "https://hooks.example.com/")
    monkeypatch.setenv("STATUSHOOKS_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("STATUSHOOKS_WORKERS", "2")
    monkeypatch.setenv("STATUSHOOKS_PRUNE_INTERVAL", "15s")
    settings = config.load_settings()
    assert settings.prune_interval_seconds == 15
    assert settings.retry_delays == (5, 300, 3600)
    assert settings.public_base_url == "https://hooks.example.com"
    assert settings.allow_private_urls is True
    assert settings.workers == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retry_schedule": "5s,soon"}, "invalid duration"),
        ({"lease_seconds": 10, "delivery_timeout": 15}, "lease_seconds"),
        ({"environment": "production"}, "ADMIN_TOKEN"),
        ({"environment": "production", "admin_token": "changethis"}, "ADMIN_TOKEN"),
        ({"environment": "production", "admin_token": "x"}, "ADMIN_TOKEN is too weak"),
        ({"environment": "production", "admin_token": "s3cr3t-9f8e7d"}, "ADMIN_TOKEN is too weak"),
        ({"environment": "production", "admin_token": "a" * 64}, "ADMIN_TOKEN is too weak"),
        (
            {
                "environment": "production",
                "admin_token": "3f9a1c0e7b5d2468ace13579",
                "metrics_token": "m",
            },
            "METRICS_TOKEN is too weak",
        ),
        ({"delivery_timeout": 0}, "delivery_timeout"),
        ({"workers": 0}, "workers"),
        ({"prune_interval": "0s"}, "prune_interval"),
        ({"prune_interval": "often"}, "invalid duration"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    """Unsafe or malformed settings are a ConfigurationError at start, naming the setting."""
    with pytest.raises(exceptions.ConfigurationError, match=message):
        config.load_settings(**overrides)


def test_production_with_real_token() -> None:
    """Outside development a real admin token is accepted; in development any token is."""
    token = "3f9a1c0e7b5d2468ace13579bdf02468"
    settings = config.load_settings(environment="production", admin_token=token)
    assert settings.admin_token == token
    assert config.load_settings(admin_token="x", metrics_token="y").admin_token == "x"


@pytest.mark.parametrize(
    ("ahead", "timeout", "lease", "expected"),
    [
        (1, 15, 60, 1),  # the defaults: a lease ahead waits ≤ 15 s, then its attempt ≤ 15 s
        (3, 15, 60, 2),  # 4 × 15 s would not fit in 60 s
        (1, 15, 30, 0),  # 2 × 15 s would not either
        (0, 15, 60, 0),
    ],
)
def test_lease_ahead_is_lowered_until_a_lease_outlives_its_wait(
    ahead: int, timeout: float, lease: float, expected: int
) -> None:
    settings = config.load_settings(
        dispatch_lease_ahead=ahead, delivery_timeout=timeout, lease_seconds=lease
    )
    assert settings.lease_ahead == expected
