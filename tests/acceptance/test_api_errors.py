"""Every kind of bad input answers problem+json (never a 500) and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from acceptance_support import Account, Server

PROBLEM = "application/problem+json"
SMS = {"to": "+447810000001", "from": "Acme", "text": "Hello"}
MIB = 1024 * 1024


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= set(body)
    assert body["status"] == status
    named = {error["field"] for error in body["errors"]}
    for field in fields:
        assert field in named, (field, body["errors"])
    return body


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("errors")


async def _assert_nothing_stored(account: Account) -> None:
    for path in ("/v1/endpoints", "/v1/messages", "/v1/events", "/v1/deliveries"):
        assert (await account.client.get(path)).json()["data"] == [], path


async def test_malformed_json(account: Account) -> None:
    """A body that is not JSON answers 400 malformed-json."""
    response = await account.client.post(
        "/v1/sms", content=b'{"to": ', headers={"Content-Type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"].endswith("/malformed-json")
    await _assert_nothing_stored(account)


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/v1/sms", {"from": "Acme", "text": "Hi"}, "to"),
        ("/v1/sms", {**SMS, "bogus": 1}, "bogus"),
        ("/v1/sms", {**SMS, "scheduled_at": "2025-06-30T12:08:43"}, "scheduled_at"),
        ("/v1/email", {"to": "a@example.com", "from": "b@example.com", "subject": "s"}, "body"),
        ("/v1/email", {"to": "nope", "from": "b@example.com", "subject": "s", "text": "t"}, "to"),
        ("/v1/voice", {"to": "+447810000001"}, "verification_code"),
        ("/v1/endpoints", {"url": "http://127.0.0.1:9/", "status": "sleeping"}, "status"),
        ("/v1/endpoints", {"url": "http://127.0.0.1:9/", "statuses": ["lost"]}, "statuses.0"),
        (
            "/v1/endpoints",
            {"url": "http://127.0.0.1:9/", "enabled_events": ["x.y"]},
            "enabled_events",
        ),
        ("/v1/endpoints", {"url": "http://127.0.0.1:9/", "max_in_flight": 0}, "max_in_flight"),
        ("/v1/endpoints", {}, "url"),
        ("/v1/status-reports", {"reports": []}, "reports"),
        (
            "/v1/status-reports",
            {"reports": [{"message_id": "msg_x", "status": "gone"}]},
            "reports.0.status",
        ),
    ],
)
async def test_invalid_fields(account: Account, path: str, payload: Any, field: str) -> None:
    """Missing, extra and malformed fields and bad enum values each name the field (422)."""
    assert_problem(await account.client.post(path, json=payload), 422, field)
    await _assert_nothing_stored(account)


@pytest.mark.parametrize("number", ["07810000001", "+999", "+44 7810 000001x", "hello"])
async def test_bad_phone_number(account: Account, number: str) -> None:
    """An SMS or voice call to an invalid number answers 422 on ``to``."""
    assert_problem(await account.client.post("/v1/sms", json={**SMS, "to": number}), 422, "to")
    voice = {"to": number, "verification_code": "1234"}
    assert_problem(await account.client.post("/v1/voice", json=voice), 422, "to")
    await _assert_nothing_stored(account)


async def test_unsafe_endpoint_url(account: Account) -> None:
    """An endpoint URL that is not http(s) answers 422."""
    response = await account.client.post("/v1/endpoints", json={"url": "file:///etc/passwd"})
    assert_problem(response, 422)
    await _assert_nothing_stored(account)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 251}, {"limit": "ten"}, {"after": "not a cursor"}],
)
async def test_bad_paging(account: Account, params: dict[str, Any]) -> None:
    """limit outside 1..250 or a malformed cursor answers 422 on the query parameter."""
    field = "query." + next(iter(params))
    for path in ("/v1/endpoints", "/v1/messages", "/v1/events", "/v1/deliveries"):
        assert_problem(await account.client.get(path, params=params), 422, field)


async def test_bad_filters(account: Account) -> None:
    """Unknown event types and delivery states in filters answer 422."""
    assert_problem(await account.client.get("/v1/events", params={"type": "x"}), 422)
    response = await account.client.get("/v1/deliveries", params={"state": "lost"})
    assert_problem(response, 422, "query.state")
    window = await account.client.get("/v1/endpoints/ep_x/stats", params={"window": "soon"})
    assert window.status_code in (404, 422)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/endpoints/ep_2z020YIp98J0ow5egHEVQJQd2Sx"),
        ("PATCH", "/v1/endpoints/nope"),
        ("DELETE", "/v1/endpoints/nope"),
        ("GET", "/v1/messages/msg_nope"),
        ("GET", "/v1/events/evt_nope"),
        ("GET", "/v1/deliveries/dlv_nope"),
        ("GET", "/v1/deliveries/dlv_nope/attempts"),
        ("POST", "/v1/deliveries/dlv_nope/retry"),
        ("GET", "/v1/event-types/nope"),
        ("GET", "/l/nope"),
    ],
)
async def test_unknown_ids(account: Account, method: str, path: str) -> None:
    """An unknown id answers a 404 problem."""
    data = {"description": "x"} if method == "PATCH" else None
    response = await account.client.request(method, path, json=data)
    assert_problem(response, 404)


async def test_status_report_for_unknown_message(account: Account) -> None:
    """A status report for an unknown message answers 404."""
    response = await account.client.post("/v1/messages/msg_nope/status", json={"status": "sent"})
    assert_problem(response, 404)


async def test_unknown_event_type(account: Account) -> None:
    """Testing an endpoint with an unknown event type answers 422 on event_type."""
    endpoint = (
        await account.client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/"})
    ).json()
    response = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "sms.nope"}
    )
    assert_problem(response, 422, "event_type")


async def test_status_not_valid_for_channel(account: Account) -> None:
    """Reporting ``clicked`` on an email answers 422 and changes nothing."""
    email = {"to": "a@example.com", "from": "b@example.com", "subject": "s", "text": "t"}
    message = (await account.client.post("/v1/email", json=email)).json()
    path = f"/v1/messages/{message['id']}/status"
    assert_problem(await account.client.post(path, json={"status": "clicked"}), 422, "status")
    detail = (await account.client.get(f"/v1/messages/{message['id']}")).json()
    assert detail["status"] == "submitted"


async def test_body_too_large(account: Account) -> None:
    """A body over 1 MiB answers 413, declared or streamed, and stores nothing."""
    big = {**SMS, "text": "x" * (MIB + 10)}
    assert_problem(await account.client.post("/v1/sms", json=big), 413)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"to": "+447810000001", "from": "A", "text": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = await account.client.post(
        "/v1/sms", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)
    await _assert_nothing_stored(account)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_bad_auth(server: Server, headers: dict[str, str]) -> None:
    """Missing, unknown or non-Bearer credentials answer 401 with WWW-Authenticate."""
    for method, path in (("GET", "/v1/endpoints"), ("POST", "/v1/sms"), ("GET", "/v1/event-types")):
        response = await server.client.request(method, path, headers=headers, json=SMS)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    admin = await server.client.post("/v1/accounts", headers=headers, json={"name": "x"})
    assert_problem(admin, 401)


async def test_bad_idempotency_key(account: Account) -> None:
    """An over-long Idempotency-Key header answers 422."""
    response = await account.client.post(
        "/v1/sms", json=SMS, headers={"Idempotency-Key": "k" * 300}
    )
    assert_problem(response, 422, "header.Idempotency-Key")
    await _assert_nothing_stored(account)


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/v1/sms", b'{"to": "+447810000001", "from": "A\\u0000", "text": "x"}'),
        ("POST", "/v1/endpoints", b'{"url": "http://127.0.0.1:9/", "metadata": {"n": NaN}}'),
        ("POST", "/v1/endpoints", b'{"url": "http://127.0.0.1:9/", "metadata": {"s": "\\ud800"}}'),
        ("POST", "/v1/endpoints", b'{"url": "http://127.0.0.1:9/", "metadata": {"\\udfff": 1}}'),
        (
            "POST",
            "/v1/endpoints",
            b'{"url": "http://127.0.0.1:9/", "metadata": {"n": [123456789012345678901234567890]}}',
        ),
        ("POST", "/v1/endpoints", b'{"url": "http://127.0.0.1:9/", "description": "\\ud800"}'),
        (
            "POST",
            "/v1/endpoints",
            b'{"url": "http://127.0.0.1:9/", "metadata": {"deep": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
        ),
        ("POST", "/v1/sms", b'{"to": "+447810000001", "from": "A", "text": "x\\udc00y"}'),
        (
            "POST",
            "/v1/sms",
            (
                b'{"to": "+447810000001", "from": "A", "text": "x", '
                b'"scheduled_at": "0001-01-01T00:00:00+01:00"}'
            ),
        ),
        ("GET", "/v1/endpoints/ep_%00x", None),
        ("GET", "/v1/events?message_id=msg_%00", None),
        ("GET", "/v1/endpoints/ep_x/stats?window=99999999999d", None),
    ],
)
async def test_hostile_input_is_refused(
    account: Account, method: str, path: str, content: bytes | None
) -> None:
    """NUL characters, lone surrogates, NaN, integers past 64 bits, out-of-range times and
    windows answer 4xx, never 5xx (503 means the database is down)."""
    headers = {"Content-Type": "application/json"} if content else {}
    response = await account.client.request(method, path, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    if content and (b"\\ud" in content or b"1234567890" * 3 in content):  # does not validate
        assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    await _assert_nothing_stored(account)
