"""The dashboard's pure parts: signed tokens, portal settings, charts, buckets, id bounds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statushooks import accounts, config, exceptions, ids
from statushooks.dashboard import charts, colours, sessions, views
from statushooks.dashboard.auth import Viewer
from statushooks.dashboard.sessions import Role, Signer
from statushooks.dashboard.web import security_headers
from statushooks.storage.transaction import AttemptPoint

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_a_session_reads_back_until_it_expires() -> None:
    signer = Signer(b"k" * 32)
    session, cookie = signer.new_session(Role.ACCOUNT, "acc_1", "hash", NOW)
    assert signer.read_session(cookie, NOW + timedelta(hours=7)) == session
    assert session.expires_at == NOW + sessions.SESSION_TTL
    assert signer.read_session(cookie, NOW + sessions.SESSION_TTL) is None


def test_tokens_are_bound_to_their_key_and_purpose() -> None:
    signer = Signer(b"k" * 32)
    _, cookie = signer.new_session(Role.ADMIN, None, "digest", NOW)
    assert Signer(b"other" * 8).read_session(cookie, NOW) is None
    link = signer.portal_token("acc_1", NOW + timedelta(hours=1))
    assert signer.read_session(link, NOW) is None  # a link is no session
    assert signer.read_portal(cookie, NOW) is None  # nor a session a link
    grant = signer.read_portal(link, NOW)
    assert grant is not None and grant.account_id == "acc_1"
    assert signer.read_portal(link, NOW + timedelta(hours=1)) is None


@given(st.text(max_size=300))
def test_any_garbage_is_no_token(garbage: str) -> None:
    assert Signer(b"k" * 32).read_session(garbage, NOW) is None


def test_a_changed_payload_fails_its_signature() -> None:
    signer = Signer(b"k" * 32)
    _, cookie = signer.new_session(Role.ACCOUNT, "acc_1", "hash", NOW)
    body, mac = cookie.split(".")
    forged = signer.sign("other", {"r": "admin", "a": None, "c": "x", "x": "y", "exp": 2**40})
    assert signer.read_session(f"{forged.split('.')[0]}.{mac}", NOW) is None
    assert signer.read_session(f"{body}.{mac}", NOW) is not None


def test_the_secret_comes_from_the_settings() -> None:
    explicit = config.load_settings(session_secret="s" * 32, admin_token="t" * 20)
    derived = config.load_settings(admin_token="t" * 20)
    assert sessions.secret_of(explicit) == b"s" * 32
    assert sessions.secret_of(derived) == sessions.secret_of(
        config.load_settings(admin_token="t" * 20)
    )
    assert sessions.secret_of(derived) != ("t" * 20).encode()
    assert len(sessions.secret_of(config.load_settings())) == 32


def test_portal_settings_are_checked_and_normalised() -> None:
    checked = accounts.check_portal_settings(
        accounts.PortalSettings(
            accent_color="#AbCdEf",
            frame_ancestors=("https://App.example.com", "https://app.example.com"),
            logo_url="https://cdn.example.com/l.png",
        )
    )
    assert checked.accent_color == "#abcdef"
    assert checked.frame_ancestors == ("https://app.example.com",)
    with pytest.raises(exceptions.ValidationError) as caught:
        accounts.check_portal_settings(
            accounts.PortalSettings(
                accent_color="blue",
                frame_ancestors=("https://a.example/path", "*"),
                logo_url="javascript:alert(1)",
            )
        )
    fields = [error["field"] for error in caught.value.errors]
    assert fields == ["logo_url", "accent_color", "frame_ancestors", "frame_ancestors"]
    settings = accounts.PortalSettings(brand_name="B", frame_ancestors=("https://a.b",))
    assert accounts.PortalSettings.from_json(settings.to_json()) == settings
    assert accounts.PortalSettings.from_json(None) == accounts.PortalSettings()


def test_headers_frame_only_the_listed_origins_of_a_portal() -> None:
    portal = accounts.PortalSettings(
        frame_ancestors=("https://a.example", "http://localhost:3000"),
        logo_url="https://cdn.example/x.png",
    )
    viewer = Viewer(role=Role.PORTAL, account_id="a", base="/p", root="/p", csrf="c", portal=portal)
    headers = security_headers(viewer, "n0nce")
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors https://a.example http://localhost:3000" in policy
    assert "img-src 'self' data: https://cdn.example;" in policy
    assert "style-src 'self' 'nonce-n0nce'" in policy
    assert "X-Frame-Options" not in headers
    dashboard = Viewer(role=Role.ACCOUNT, account_id="a", base="/d", root="/d", csrf="c")
    assert "frame-ancestors 'none'" in security_headers(dashboard, "n")["Content-Security-Policy"]
    assert security_headers(dashboard, "n")["X-Frame-Options"] == "DENY"
    unframed = Viewer(role=Role.PORTAL, account_id="a", base="/p", root="/p", csrf="c")
    assert "frame-ancestors 'none'" in security_headers(unframed, "n")["Content-Security-Policy"]


def test_text_on_the_accent_colour_has_contrast() -> None:
    """Black or white on the accent, whichever contrasts more: AA for any colour."""
    assert colours.on_accent("#1d4ed8") == "#ffffff"
    assert colours.on_accent("#fde047") == "#000000"
    assert colours.on_accent("#000000") == "#ffffff"
    assert colours.on_accent("#ffffff") == "#000000"


@given(st.from_regex(accounts.ACCENT_PATTERN, fullmatch=True))
def test_any_accent_gives_readable_text(accent: str) -> None:
    """Whatever the brand's colour, the text on it and the accent-coloured text on the
    page's backgrounds reach WCAG AA (4.5:1)."""
    accent = accent.lower()
    assert colours.contrast(accent, colours.on_accent(accent)) >= colours.TEXT_CONTRAST
    text = colours.accent_text(accent)
    for background in ("#ffffff", "#f9fafb", colours.LIGHTEST_BACKGROUND):
        assert colours.contrast(text, background) >= colours.TEXT_CONTRAST


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#1d4ed8", "#ffffff", 6.70),  # the default accent
        ("#767676", "#ffffff", 4.54),  # the lightest grey that passes on white
    ],
)
def test_contrast_ratios_match_wcag(first: str, second: str, ratio: float) -> None:
    """The contrast of known pairs, either way round."""
    assert colours.contrast(first, second) == pytest.approx(ratio, abs=0.01)
    assert colours.contrast(second, first) == pytest.approx(ratio, abs=0.01)


@pytest.mark.parametrize(
    ("accent", "expected"),
    [
        ("#1d4ed8", "#1d4ed8"),  # dark enough already: unchanged
        ("#0f766e", "#0f766e"),
        ("#fde047", None),  # yellow: darkened
        ("#ffffff", None),  # white: becomes a grey that reads
    ],
)
def test_accent_text_is_darkened_only_when_it_must(accent: str, expected: str | None) -> None:
    """A dark accent is used as it is; a light one is darkened until it passes, and no
    further than one step past that."""
    text = colours.accent_text(accent)
    if expected is not None:
        assert text == expected
        return
    assert text != accent
    assert colours.contrast(text, colours.LIGHTEST_BACKGROUND) >= colours.TEXT_CONTRAST
    assert colours.contrast(text, colours.LIGHTEST_BACKGROUND) < colours.TEXT_CONTRAST + 1


def point(minutes_ago: float, status: int | None, ms: float = 10.0) -> AttemptPoint:
    return AttemptPoint(
        started_at=NOW - timedelta(minutes=minutes_ago),
        duration_ms=ms,
        response_status=status,
        error_kind=None if status == 200 else "status",
    )


def test_buckets_count_rates_and_percentiles_per_minute() -> None:
    window = views.WINDOWS["1h"]
    points = [point(0.5, 200, 10), point(0.2, 500, 30), point(30.5, 200, 5), point(61, 200)]
    buckets = views.bucketize(points, window, NOW)
    assert len(buckets) == 60
    assert (buckets[-1].ok, buckets[-1].failed, buckets[-1].success_rate) == (1, 1, 0.5)
    assert (buckets[-1].p50_ms, buckets[-1].p95_ms) == (10, 30)
    assert buckets[29].ok == 1
    assert sum(b.total for b in buckets) == 3  # the one older than the window is left out
    assert buckets[0].success_rate is None
    summary = views.summarize(points[:3], sampled=False)
    assert (summary.attempts, summary.succeeded, summary.p50_ms) == (3, 2, 10)


def test_charts_are_accessible_inline_svg() -> None:
    bars = [charts.Bar(label="a", ok=3, failed=1), charts.Bar(label="b<", ok=0, failed=0)]
    svg = charts.bar_chart(bars, label="Attempts", start="10:00", end="now")
    assert svg.startswith('<svg class="chart" role="img" aria-label="Attempts"')
    assert "<title>b&lt;: 0 succeeded, 0 failed</title>" in svg
    assert "<script" not in svg
    line = charts.line_chart(
        [("p50", [1.0, None, 3.0])], label="Latency", start="s", end="e", unit=" ms"
    )
    assert line.count("<circle") == 2 and "3 ms" in line
    spark = charts.sparkline([None, 1.0, 0.5, None, 1.0], label="ok")
    assert spark.count("<polyline") == 1 and spark.count("<circle") == 1
    assert "<polyline" not in charts.sparkline([None, None], label="none")


def test_an_id_bound_sorts_between_the_times_around_it() -> None:
    at = datetime(2026, 12, 7, 1, 2, 3, 400000, tzinfo=UTC).timestamp()
    bound = ids.first_id("dlv", at)
    assert re.fullmatch(ids.ID_PATTERN, bound)
    assert ids.new_id("dlv", at - 0.001) < bound <= ids.new_id("dlv", at)
    assert ids.new_id("dlv", at + 1) > bound
