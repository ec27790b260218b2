"""The dashboard and the portal over real HTTP (no browser): sessions, CSRF, the pages and
their actions, portal links and their headers. ``tests/browser`` drives the same in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from acceptance_support import ADMIN_TOKEN, Account, Server

from statushooks import config, testing
from statushooks.api import create_app

HOOK = "/hook"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


async def login(server: Server, key: str) -> httpx.AsyncClient:
    """A browser-like client logged in with ``key`` (an API key or the admin token)."""
    client = httpx.AsyncClient(base_url=server.url, timeout=10.0)
    form = await client.get("/dashboard/login")
    assert form.status_code == 200
    response = await client.post(
        "/dashboard/login",
        data={"csrf_token": csrf_of(form.text), "api_key": key, "next": "/dashboard/"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard/"
    return client


async def page_csrf(client: httpx.AsyncClient, path: str = "/dashboard/") -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(
    server: Server, account: Account
) -> None:
    client = httpx.AsyncClient(base_url=server.url, timeout=10.0)
    form = await client.get("/dashboard/login")
    assert '<label for="api_key">API key</label>' in form.text
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    token = csrf_of(form.text)

    unknown = await client.post("/dashboard/login", data={"csrf_token": token, "api_key": "sk_x"})
    assert unknown.status_code == 401
    assert "unknown" in unknown.text
    assert "sh_session" not in unknown.headers.get("set-cookie", "")

    token = csrf_of(unknown.text)
    response = await client.post(
        "/dashboard/login", data={"csrf_token": token, "api_key": account.api_key}
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if "sh_session=" in c)
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/dashboard"} <= flags
    assert "secure" not in flags  # served over http here
    assert any(flag.startswith("max-age=") for flag in flags)

    home = await client.get("/dashboard/")
    assert home.status_code == 200
    assert "Overview" in home.text

    refused = await client.post("/dashboard/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await client.get("/dashboard/")).status_code == 200

    out = await client.post("/dashboard/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/dashboard/login"
    after = await client.get("/dashboard/endpoints")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/dashboard/login?next=")
    await client.aclose()


async def test_login_form_needs_its_csrf_token(server: Server, account: Account) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        await client.get("/dashboard/login")
        response = await client.post(
            "/dashboard/login", data={"csrf_token": "guess", "api_key": account.api_key}
        )
        assert response.status_code == 403
        assert "sh_session" not in response.headers.get("set-cookie", "")


async def test_a_forged_or_foreign_cookie_is_no_session(server: Server, account: Account) -> None:
    client = await login(server, account.api_key)
    cookie = client.cookies["sh_session"]
    body, mac = cookie.split(".")
    client.cookies.set("sh_session", f"{body}.{mac[::-1]}", path="/dashboard")
    assert (await client.get("/dashboard/")).status_code == 303
    await client.aclose()


async def test_a_deleted_api_key_ends_its_sessions(server: Server, account: Account) -> None:
    created = await server.admin.post(f"/v1/accounts/{account.id}/api-keys")
    key = created.json()
    client = await login(server, key["api_key"])
    assert (await client.get("/dashboard/endpoints")).status_code == 200
    assert (await server.admin.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
    assert (await client.get("/dashboard/endpoints")).status_code == 303
    await client.aclose()


async def test_operators_see_every_account_and_the_queue(server: Server, account: Account) -> None:
    other = await server.account("globex")
    client = await login(server, ADMIN_TOKEN)
    home = await client.get("/dashboard/")
    assert home.status_code == 200
    assert "Queue health" in home.text
    assert account.id in home.text and other.id in home.text
    assert (await client.get("/dashboard/queue")).status_code == 200
    assert (await client.get("/dashboard/accounts")).status_code == 200
    scoped = await client.get(f"/dashboard/accounts/{other.id}/endpoints")
    assert scoped.status_code == 200
    assert "globex" in scoped.text
    assert (await client.get("/dashboard/accounts/acc_nope/")).status_code == 404
    unscoped = await client.get("/dashboard/endpoints")
    assert (unscoped.status_code, unscoped.headers["location"]) == (303, "/dashboard/accounts")
    await client.aclose()

    customer = await login(server, account.api_key)
    assert (await customer.get("/dashboard/queue")).status_code == 403
    assert (await customer.get(f"/dashboard/accounts/{other.id}/")).status_code == 403
    await customer.aclose()


async def test_endpoint_pages_and_actions(
    server: Server, account: Account, sink: testing.WebhookSink
) -> None:
    client = await login(server, account.api_key)
    token = await page_csrf(client, "/dashboard/endpoints")
    forged = await client.post("/dashboard/endpoints", data={"url": sink.url(HOOK)})
    assert forged.status_code == 403
    bad = await client.post("/dashboard/endpoints", data={"csrf_token": token, "url": "nope"})
    assert bad.status_code == 400

    created = await client.post(
        "/dashboard/endpoints",
        data={"csrf_token": token, "url": sink.url(HOOK), "description": "orders"},
    )
    assert created.status_code == 303
    path = created.headers["location"].split("?")[0]
    endpoint_id = path.rsplit("/", 1)[1]
    detail = await client.get(path)
    assert detail.status_code == 200 and "orders" in detail.text

    sent = await client.post(
        f"{path}/test", data={"csrf_token": token, "event_type": "sms.message.updated"}
    )
    assert sent.status_code == 303
    [request] = await sink.wait_for(1, path=HOOK)
    assert b"sms.message.updated" in request.body

    paused = await client.post(f"{path}/state", data={"csrf_token": token, "state": "paused"})
    assert paused.headers["location"].endswith("?done=paused")
    api = (await account.client.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert api["status"] == "paused"
    await client.post(f"{path}/state", data={"csrf_token": token, "state": "active"})
    api = (await account.client.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert api["status"] == "active"

    await client.post(
        f"{path}/filters",
        content="csrf_token=" + token + "&enabled_events=sms.message.updated&statuses=failed"
        "&statuses=delivered",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    api = (await account.client.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert api["enabled_events"] == ["sms.message.updated"]
    assert sorted(api["statuses"]) == ["delivered", "failed"]

    before = (await account.client.get(f"/v1/endpoints/{endpoint_id}/secret")).json()
    revealed = await client.get(f"{path}/secret")
    assert before["secret"] in revealed.text
    await client.post(f"{path}/rotate-secret", data={"csrf_token": token})
    after = (await account.client.get(f"/v1/endpoints/{endpoint_id}/secret")).json()
    assert after["secret"] != before["secret"]
    assert after["secret"] in (await client.get(f"{path}/secret")).text

    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    recovered = await client.post(f"{path}/recover", data={"csrf_token": token, "since": since})
    assert recovered.headers["location"].endswith("?done=recovered")
    bad_time = await client.post(f"{path}/recover", data={"csrf_token": token, "since": "x"})
    assert bad_time.status_code == 400

    listing = await client.get("/dashboard/endpoints")
    assert sink.url(HOOK) in listing.text and "<svg" in listing.text
    for window in ("1h", "24h"):
        overview = await client.get(f"/dashboard/?window={window}")
        assert overview.status_code == 200 and "<svg" in overview.text
    assert (await client.get("/dashboard/endpoints/ep_nope")).status_code == 404
    await client.aclose()


async def test_event_log_event_detail_message_timeline_and_catalog(
    server: Server, account: Account, sink: testing.WebhookSink
) -> None:
    response = await account.client.post("/v1/endpoints", json={"url": sink.url(HOOK)})
    endpoint = response.json()
    message = (
        await account.client.post(
            "/v1/sms", json={"to": "+447810000001", "from": "ACME", "text": "hello"}
        )
    ).json()
    await account.client.post(f"/v1/messages/{message['id']}/status", json={"status": "failed"})
    await sink.wait_for(2, path=HOOK)

    client = await login(server, account.api_key)
    log = await client.get("/dashboard/events")
    assert log.status_code == 200
    event_ids = sorted(set(re.findall(r"/dashboard/events/(evt_[0-9A-Za-z]+)", log.text)))
    assert len(event_ids) >= 2
    filtered = await client.get(
        "/dashboard/events",
        params={"state": "succeeded", "endpoint": endpoint["id"], "message": message["id"]},
    )
    assert set(re.findall(r"/dashboard/events/(evt_[0-9A-Za-z]+)", filtered.text)) == set(event_ids)
    none = await client.get("/dashboard/events", params={"state": "failed"})
    assert "/dashboard/events/evt_" not in none.text
    early = await client.get("/dashboard/events", params={"before": "2020-01-01T00:00"})
    assert "/dashboard/events/evt_" not in early.text
    assert (await client.get("/dashboard/events", params={"state": "bogus"})).status_code == 400

    detail = await client.get(f"/dashboard/events/{event_ids[0]}")
    assert detail.status_code == 200
    assert "Payload, as sent" in detail.text and "webhook-signature" in detail.text
    token = csrf_of(detail.text)
    delivery_id = re.search(r"/deliveries/(dlv_[0-9A-Za-z]+)/retry", detail.text)
    assert delivery_id is not None
    retried = await client.post(
        f"/dashboard/deliveries/{delivery_id.group(1)}/retry", data={"csrf_token": token}
    )
    assert retried.status_code == 303
    await sink.wait_for(3, path=HOOK)

    timeline = await client.get(f"/dashboard/messages/{message['id']}")
    assert timeline.status_code == 200
    assert "submitted" in timeline.text and "failed" in timeline.text
    found = await client.get("/dashboard/messages", params={"id": message["id"]})
    assert found.headers["location"] == f"/dashboard/messages/{message['id']}"
    catalog = await client.get("/dashboard/catalog")
    assert "sms.message.updated" in catalog.text and "JSON Schema" in catalog.text
    await client.aclose()


async def test_portal_links_open_one_account_with_its_brand_and_frame_policy(
    server: Server, account: Account
) -> None:
    other = await server.account("globex")
    theirs = (await other.client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/x"})).json()
    patched = await server.admin.patch(
        f"/v1/accounts/{account.id}",
        json={
            "portal": {
                "brand_name": "Acme Messaging",
                "accent_color": "#7C3AED",
                "logo_url": "https://cdn.acme.example/logo.png",
                "frame_ancestors": ["https://app.acme.example", "http://localhost:3000"],
            }
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["portal"]["accent_color"] == "#7c3aed"
    read = await server.admin.get(f"/v1/accounts/{account.id}")
    assert read.json()["portal"]["brand_name"] == "Acme Messaging"

    assert (await server.client.post("/v1/portal-links")).status_code == 401
    response = await account.client.post("/v1/portal-links")
    assert response.status_code == 200, response.text
    link = response.json()
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert link["url"].startswith(f"{server.url}/portal/")

    async with httpx.AsyncClient(timeout=10.0) as browser:
        page = await browser.get(link["url"])
        assert page.status_code == 200
        assert "Acme Messaging" in page.text and "#7c3aed" in page.text
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors https://app.acme.example http://localhost:3000" in policy
        assert "img-src 'self' data: https://cdn.acme.example" in policy
        assert "x-frame-options" not in page.headers
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "Log out" not in page.text
        portal = urlsplit(link["url"]).path.rstrip("/")
        endpoints = await browser.get(f"{server.url}{portal}/endpoints")
        assert endpoints.status_code == 200
        foreign = await browser.get(f"{server.url}{portal}/endpoints/{theirs['id']}")
        assert foreign.status_code == 404
        tampered = portal[:-3] + ("AAA" if not portal.endswith("AAA") else "BBB")
        assert (await browser.get(f"{server.url}{tampered}/")).status_code == 403
        token = csrf_of(endpoints.text)
        created = await browser.post(
            f"{server.url}{portal}/endpoints",
            data={"csrf_token": token, "url": "http://127.0.0.1:9/portal"},
        )
        assert created.status_code == 303
        forged = await browser.post(
            f"{server.url}{portal}/endpoints", data={"csrf_token": "x", "url": "http://a.b/c"}
        )
        assert forged.status_code == 403

    short = await account.client.post("/v1/portal-links", json={"expires_in": 120})
    expires = datetime.fromisoformat(short.json()["expires_at"])
    assert expires - datetime.now(UTC) <= timedelta(minutes=2)
    too_short = await account.client.post("/v1/portal-links", json={"expires_in": 5})
    assert too_short.status_code == 422

    cleared = await server.admin.patch(
        f"/v1/accounts/{account.id}", json={"portal": {"frame_ancestors": []}}
    )
    assert cleared.json()["portal"]["brand_name"] == "Acme Messaging"
    async with httpx.AsyncClient(timeout=10.0) as browser:
        page = await browser.get(link["url"])
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "portal",
    [
        {"accent_color": "red"},
        {"frame_ancestors": ["https://a.example/path"]},
        {"logo_url": "javascript:alert(1)"},
        {"brand_name": ""},
        {"unknown": 1},
    ],
)
async def test_bad_portal_settings_are_problems(
    server: Server, account: Account, portal: dict[str, object]
) -> None:
    response = await server.admin.patch(f"/v1/accounts/{account.id}", json={"portal": portal})
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_session_cookie_is_secure_over_https(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'https.db'}"
    app = create_app(config.load_settings(database_url=url, admin_token=ADMIN_TOKEN))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://dash.example"
        ) as client:
            form = await client.get("/dashboard/login")
            assert "secure" in form.headers["set-cookie"].lower()
            response = await client.post(
                "/dashboard/login",
                data={"csrf_token": csrf_of(form.text), "api_key": ADMIN_TOKEN},
            )
            assert response.status_code == 303
            cookie = next(c for c in response.headers.get_list("set-cookie") if "sh_session=" in c)
            assert "secure" in {part.strip().lower() for part in cookie.split(";")}
            assert (await client.get("/dashboard/")).status_code == 200
