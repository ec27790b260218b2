"""Every page of the dashboard and the portal in Chromium, at 1280 and 390 pixels wide, with
the actions the customer flow does not take: rotate, recover, filters, paging, the message
timeline, the catalog, and the operators' pages.

With ``DASHBOARD_SCREENSHOTS=<dir>`` set, each page is saved there as ``<name>-<width>.png``
(``docs/img`` holds the committed ones).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from browser_support import ADMIN_TOKEN, Live, accessibility_violations
from playwright.sync_api import Page, expect

from statushooks.dashboard import colours

HOOK = "/hook"
WIDTHS = (1280, 390)
SHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")
TEST_EVENTS = 55  # more than one page of the event log (50)
TEST_TYPE = "email.delivery.updated"
LIGHT = "#fde047"  # a brand's accent too light for text on white
FOCUS_STOPS = 12
#: The next Tab goes to the page's first stop: focus a mark at the start of the body, and
#: take it away (the sequential focus starting point stays where it was).
FOCUS_FROM_THE_TOP = """() => { const mark = document.createElement('span'); mark.tabIndex = -1;
    document.body.prepend(mark); mark.focus(); mark.remove(); window.scrollTo(0, 0); }"""
FOCUS_CONTRAST = 3.0
SMS = {"to": "+447810000001", "from": "ACME", "text": "Your code is 123456"}


def style_of(page: Page, selector: str, prop: str) -> str:
    """The computed ``prop`` of the first element ``selector`` finds."""
    return str(
        page.evaluate(
            "([selector, prop]) => getComputedStyle(document.querySelector(selector))[prop]",
            [selector, prop],
        )
    )


def hex_of(rgb: str) -> str:
    """``rgb(r, g, b)`` (a computed colour) as ``#rrggbb``."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", rgb)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def check_focus(page: Page, name: str) -> None:
    """Tab through the page's first ``FOCUS_STOPS`` stops: each shows a solid outline at least
    2 px wide whose colour contrasts 3:1 (WCAG 1.4.11) with what is behind it (the header's
    accent, or the page)."""
    page.evaluate(FOCUS_FROM_THE_TOP)
    for _ in range(FOCUS_STOPS):
        page.keyboard.press("Tab")
        ring = page.evaluate(
            """() => { const el = document.activeElement; const s = getComputedStyle(el);
                       const top = el.closest('.top');
                       return {what: el.tagName + ' ' + (el.textContent || '').trim().slice(0, 30),
                               style: s.outlineStyle, width: parseFloat(s.outlineWidth),
                               colour: s.outlineColor,
                               behind: top ? getComputedStyle(top).backgroundColor : null}; }"""
        )
        if ring["what"].startswith("BODY"):
            return  # past the last stop
        assert ring["style"] == "solid" and ring["width"] >= 2, f"{name}: {ring}"
        behind = ["#ffffff", "#f9fafb"] if ring["behind"] is None else [hex_of(ring["behind"])]
        for colour in behind:
            ratio = colours.contrast(hex_of(ring["colour"]), colour)
            assert ratio >= FOCUS_CONTRAST, f"{name}: focus ring {ring} on {colour}: {ratio:.2f}"


def check_page(page: Page, name: str, *, shot: bool = True) -> None:
    """At each width: nothing wider than the window, every field labelled, no WCAG 2.1 A or
    AA violation axe-core finds (contrast among them), a visible focus ring; a screenshot."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = page.evaluate(
            """[...document.querySelectorAll('body *')]
               .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
               .slice(0, 3).map(el => el.tagName + '.' + el.className)"""
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than {width}px: {wide}"
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => el.labels.length === 0 && !el.closest('label'))
               .map(el => el.name)"""
        )
        assert unlabelled == [], f"{name}: fields without a label: {unlabelled}"
        violations = accessibility_violations(page)
        assert violations == [], f"{name} at {width}px: " + "\n".join(violations)
        check_focus(page, f"{name} at {width}px")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        if SHOTS and shot:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/{name}-{width}.png")
    page.set_viewport_size({"width": 1280, "height": 900})


def log_in(page: Page, live: Live, key: str) -> None:
    page.goto(f"{live.url}/dashboard/login")
    check_page(page, "login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()


def test_every_page_and_action(live: Live, page: Page) -> None:
    account_id, key, api = live.account("acme")
    endpoint = api.post("/v1/endpoints", json={"url": live.sink.url(HOOK)}).json()
    for _ in range(TEST_EVENTS):
        sent = api.post(f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": TEST_TYPE})
        assert sent.status_code == 202, sent.text
    message = api.post("/v1/sms", json=SMS).json()
    reported = api.post(f"/v1/messages/{message['id']}/status", json={"status": "delivered"})
    assert reported.status_code == 200, reported.text
    events = len(api.get(f"/v1/messages/{message['id']}").json()["events"])
    deliveries = TEST_EVENTS + events
    live.run(live.sink.wait_for(deliveries, path=HOOK))

    # The keyboard reaches a visible skip link first.
    log_in(page, live, key)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box() is not None and skip.bounding_box()["x"] >= 0  # type: ignore[index]

    # Four charts: attempts, success rate, latency and the backlog the service samples once
    # a minute (a round as it starts: the chart has its first point already).
    expect(page.locator("figure svg[role=img]")).to_have_count(4)
    backlog = page.locator("figure", has_text="Backlog (highest sample per minute)")
    expect(backlog.locator("svg")).to_have_attribute("aria-label", re.compile(r"latest sample"))
    assert backlog.locator("svg circle").count() >= 1
    check_page(page, "overview")
    page.get_by_role("link", name="Last day").click()
    expect(page.get_by_role("link", name="Last day")).to_have_attribute("aria-current", "page")
    expect(page.locator("figure", has_text="Backlog (highest sample per hour)")).to_be_visible()

    page.get_by_role("link", name="Endpoints").click()
    expect(page.locator("svg.spark")).to_have_count(1)
    check_page(page, "endpoints")

    # Endpoint detail: rotate (the revealed secret changes), recover, filters.
    page.get_by_role("link", name=live.sink.url(HOOK)).click()
    check_page(page, "endpoint")
    page.get_by_role("button", name="Reveal secret").click()
    first_secret = page.locator("code.secret").first.text_content()
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("status")).to_contain_text("Secret rotated")
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.locator("code.secret")).to_have_count(2)
    assert page.locator("code.secret").first.text_content() != first_secret
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Since (UTC)").fill(since)
    page.get_by_role("button", name="Recover").click()
    expect(page.get_by_role("status")).to_have_text("Failed deliveries queued again.")
    page.get_by_role("checkbox", name="sms.message.updated", exact=True).check()
    page.get_by_role("checkbox", name="delivered", exact=True).check()
    page.get_by_role("button", name="Save filters").click()
    expect(page.get_by_role("status")).to_have_text("Filters saved.")
    saved = api.get(f"/v1/endpoints/{endpoint['id']}").json()
    assert (saved["enabled_events"], saved["statuses"]) == (["sms.message.updated"], ["delivered"])

    # The event log pages with a cursor; an event's detail shows its attempts.
    page.get_by_role("link", name="Event log").click()
    expect(page.locator("#log tbody tr")).to_have_count(50)
    check_page(page, "events")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#log tbody tr")).to_have_count(deliveries - 50)
    page.get_by_label("Event type").select_option(TEST_TYPE)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#log tbody tr")).to_have_count(50)
    page.locator("#log tbody tr").first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Payload, as sent")).to_be_visible()
    expect(page.locator("pre.payload")).to_contain_text(TEST_TYPE)
    check_page(page, "event")

    # The message timeline, found by its id.
    page.get_by_role("link", name="Messages").click()
    check_page(page, "message-search")
    page.get_by_label("Message id").fill(message["id"])
    page.get_by_role("button", name="Show timeline").click()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("submitted")
    expect(timeline).to_contain_text("delivered")
    expect(timeline.locator(".badge-succeeded")).to_have_count(events)
    check_page(page, "message")

    page.get_by_role("link", name="Event catalog").click()
    page.get_by_text("Example payload").first.click()
    expect(page.locator("pre.code").first).to_be_visible()
    check_page(page, "catalog")

    # The portal, branded.
    live.admin.patch(
        f"/v1/accounts/{account_id}",
        json={"portal": {"brand_name": "Acme Messaging", "accent_color": "#0f766e"}},
    )
    portal = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        customer = portal.new_page()
        customer.goto(api.post("/v1/portal-links").json()["url"])
        expect(customer.locator(".brand-name")).to_have_text("Acme Messaging")
        accent = customer.evaluate(
            "getComputedStyle(document.querySelector('.top')).backgroundColor"
        )
        assert accent == "rgb(15, 118, 110)"
        check_page(customer, "portal")
        customer.get_by_role("link", name="Endpoints").click()
        check_page(customer, "portal-endpoints")

        # A light accent: the header's text turns black, links and secondary buttons take
        # the accent darkened until it reads; axe finds no contrast failure.
        live.admin.patch(f"/v1/accounts/{account_id}", json={"portal": {"accent_color": LIGHT}})
        customer.reload()
        assert style_of(customer, ".top", "backgroundColor") == "rgb(253, 224, 71)"
        assert style_of(customer, ".top a", "color") == "rgb(0, 0, 0)"
        link = style_of(customer, "main a", "color")
        assert link != "rgb(253, 224, 71)"
        assert colours.contrast(hex_of(link), "#ffffff") >= colours.TEXT_CONTRAST
        check_page(customer, "portal-light-accent", shot=False)

        # The check has teeth: faint text added to the page is reported.
        customer.evaluate(
            """() => { const p = document.createElement('p'); p.textContent = 'faint';
                       p.style.color = '#d1d5db'; document.querySelector('main').append(p); }"""
        )
        assert any(v.startswith("color-contrast ") for v in accessibility_violations(customer))
    finally:
        portal.close()
    api.close()

    # Operators: every account and the queue.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("API key").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Operators")).to_be_visible()
    expect(page.get_by_role("heading", name="Queue health")).to_be_visible()
    everyone = page.locator("figure", has_text="Backlog of every account").locator("svg")
    expect(everyone).to_have_attribute("aria-label", re.compile(r"latest sample"))
    check_page(page, "operators")
    page.get_by_role("link", name="Queue", exact=True).click()
    expect(page.get_by_text("Dispatcher workers").first).to_be_visible()
    check_page(page, "queue")
    page.get_by_role("link", name="Accounts", exact=True).click()
    check_page(page, "accounts")
    page.get_by_role("link", name="acme").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/accounts/{account_id}/$"))
    page.get_by_role("link", name="Endpoints").click()
    expect(page.get_by_role("link", name=live.sink.url(HOOK))).to_be_visible()
