"""The dashboard and the portal in Chromium: what a customer and an operator do with them."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from browser_support import Live, start_host
from playwright.sync_api import BrowserContext, Page, expect

from statushooks import testing

HOOK = "/hook"
BRAND = "Acme Messaging"
SETTLE_SECONDS = 20.0  # a delivery reaches its final state within this (retries 0s, 1s, 1s)


def log_in(page: Page, live: Live, key: str) -> None:
    page.goto(f"{live.url}/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()


def reload_until(page: Page, text: str, where: str) -> None:
    """Reload until ``where`` holds ``text`` (the event page does not refresh itself)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while text not in (page.locator(where).text_content() or ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {where}"
        page.wait_for_timeout(300)
        page.reload()


def test_customer_flow_from_login_to_fixed_receiver(
    live: Live, page: Page, context: BrowserContext
) -> None:
    account_id, key, api = live.account("acme")
    log_in(page, live, key)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Create an endpoint.
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_label("URL").fill(live.sink.url(HOOK))
    page.get_by_label("Description").fill("order updates")
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("status")).to_have_text("Endpoint created.")

    # A test event arrives and shows as succeeded (the panel refreshes itself).
    page.get_by_label("Event type").select_option("sms.message.updated")
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_contain_text("Test event queued")
    recent = page.locator("#recent")
    expect(recent.locator("tbody tr").first).to_contain_text("succeeded")
    [request] = live.run(live.sink.wait_for(1, path=HOOK))
    assert b"sms.message.updated" in request.body

    # Break the receiver: the failure shows with the receiver's answer.
    live.sink.set_mode(HOOK, testing.Mode(status=503, body=b"receiver down: queue full"))
    page.get_by_role("button", name="Send test event").click()
    expect(recent.locator("tbody tr").first).to_contain_text(
        "failed", timeout=SETTLE_SECONDS * 1000
    )
    expect(recent.locator("tbody tr").first).to_contain_text("503")
    failures = page.locator("ul.failures")
    expect(failures).to_contain_text("503")
    failures.locator("summary").first.click()
    expect(failures.locator(".response-body").first).to_have_text("receiver down: queue full")

    # Fix it and retry from the page: the delivery succeeds.
    live.sink.set_mode(HOOK, testing.Mode())
    recent.locator("tbody tr").first.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("Delivery queued again.")
    expect(page.get_by_role("heading", name="Payload, as sent")).to_be_visible()
    reload_until(page, "succeeded", "section.delivery h3")
    expect(page.locator("section.delivery details.attempt")).to_have_count(4)

    # The event log finds it; the filter for failures does not.
    page.get_by_role("link", name="Event log").click()
    expect(page.locator("#log tbody tr")).to_have_count(2)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#log tbody")).to_contain_text("No deliveries match")

    # Pause and resume.
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_role("link", name=live.sink.url(HOOK)).click()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Endpoint paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_have_text("Endpoint resumed.")

    # Reveal the secret (htmx), then log out.
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.locator("code.secret")).to_have_text(re.compile(r"^whsec_"))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    page.goto(f"{live.url}/dashboard/endpoints")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))

    # A portal link opens the account, branded, in a fresh context without a key.
    allowed_runner, allowed = live.run(start_host())
    other_runner, other = live.run(start_host())
    patch = live.admin.patch(
        f"/v1/accounts/{account_id}",
        json={"portal": {"brand_name": BRAND, "frame_ancestors": [allowed]}},
    )
    assert patch.status_code == 200, patch.text
    link = api.post("/v1/portal-links").json()["url"]
    api.close()
    portal = context.browser.new_context() if context.browser else None
    assert portal is not None
    try:
        customer = portal.new_page()
        customer.goto(link)
        expect(customer.locator(".brand-name")).to_have_text(BRAND)
        expect(customer.get_by_role("button", name="Log out")).to_have_count(0)
        customer.get_by_role("link", name="Endpoints").click()
        expect(customer.get_by_role("link", name=live.sink.url(HOOK))).to_be_visible()
        assert_iframe_policy(portal, link, allowed, other)
    finally:
        portal.close()
        live.run(allowed_runner.cleanup())
        live.run(other_runner.cleanup())


def assert_iframe_policy(portal: BrowserContext, link: str, allowed: str, other: str) -> None:
    """A page of a listed origin shows the portal in an iframe; another origin's cannot."""
    host = portal.new_page()
    host.goto(f"{allowed}/?{urlencode({'src': link})}")
    expect(host.frame_locator("iframe").locator(".brand-name")).to_have_text(BRAND)

    blocked = portal.new_page()
    refusals: list[str] = []
    blocked.on("console", lambda message: refusals.append(message.text))
    blocked.goto(f"{other}/?{urlencode({'src': link})}")
    expect(blocked.locator("iframe")).to_be_attached()
    blocked.wait_for_timeout(1000)
    assert any("frame-ancestors" in text for text in refusals), refusals
    assert blocked.frame_locator("iframe").locator(".brand-name").count() == 0
