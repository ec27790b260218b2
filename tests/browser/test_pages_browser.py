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

from browser_support import ADMIN_TOKEN, Live
from playwright.sync_api import Page, expect

HOOK = "/hook"
WIDTHS = (1280, 390)
SHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")
TEST_EVENTS = 55  # more than one page of the event log (50)
TEST_TYPE = "email.delivery.updated"
SMS = {"to": "+447810000001", "from": "ACME", "text": "Your code is 123456"}


def check_page(page: Page, name: str) -> None:
    """At each width: nothing wider than the window, every field labelled; a screenshot."""
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
        if SHOTS:
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

    expect(page.locator("figure svg[role=img]")).to_have_count(3)
    check_page(page, "overview")
    page.get_by_role("link", name="Last day").click()
    expect(page.get_by_role("link", name="Last day")).to_have_attribute("aria-current", "page")

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
    finally:
        portal.close()
    api.close()

    # Operators: every account and the queue.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("API key").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Operators")).to_be_visible()
    expect(page.get_by_role("heading", name="Queue health")).to_be_visible()
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
