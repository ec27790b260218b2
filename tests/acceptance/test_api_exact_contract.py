"""What making the OpenAPI document exact changed in the API's answers, one case each."""

from __future__ import annotations

from typing import Any

import pytest
from acceptance_support import Account, Server

PROBLEM = "application/problem+json"
SMS = {"to": "+447810000001", "from": "Acme", "text": "Hello"}
ENDPOINT = {"url": "http://127.0.0.1:9/"}


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("exact")


async def test_status_report_with_idempotency_key(account: Account) -> None:
    """A status report with an Idempotency-Key answers 200 (was 500), and again the same."""
    message = (await account.client.post("/v1/sms", json=SMS)).json()
    path = f"/v1/messages/{message['id']}/status"
    headers = {"Idempotency-Key": "report-1"}
    first = await account.client.post(path, json={"status": "delivered"}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    again = await account.client.post(path, json={"status": "delivered"}, headers=headers)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


async def test_method_not_allowed_names_every_method(account: Account) -> None:
    """A 405 lists in Allow every method the path takes, not only the first route's."""
    endpoint = (await account.client.post("/v1/endpoints", json=ENDPOINT)).json()
    response = await account.client.put(f"/v1/endpoints/{endpoint['id']}")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    listing = await account.client.put("/v1/endpoints")
    assert listing.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**ENDPOINT, "ordered": 0}, "ordered"),
        ({**ENDPOINT, "ordered": "true"}, "ordered"),
        ({**ENDPOINT, "max_in_flight": "5"}, "max_in_flight"),
        ({**ENDPOINT, "rate_limit": True}, "rate_limit"),
        ({**ENDPOINT, "statuses": ["sent"] * 101}, "statuses"),
        ({**ENDPOINT, "metadata": {"a\u0000": 1}}, "body"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "http://example.com:70000/"}, "url"),
    ],
)
async def test_only_what_the_schema_says(account: Account, payload: Any, field: str) -> None:
    """JSON booleans and numbers only, bounded lists, NUL-free keys, http(s) URLs: 422."""
    response = await account.client.post("/v1/endpoints", json=payload)
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]} or field == "body"


async def test_integral_number_is_an_integer(account: Account) -> None:
    """``5.0`` is an integer to JSON Schema, so ``max_in_flight: 5.0`` is taken as 5."""
    response = await account.client.post("/v1/endpoints", json={**ENDPOINT, "max_in_flight": 5.0})
    assert response.status_code == 201, response.text
    assert response.json()["max_in_flight"] == 5


@pytest.mark.parametrize(
    "scheduled_at", ["2025-06-30T12:08:43", "1751285323", "0999-12-31T23:00:00Z"]
)
async def test_times_are_rfc3339_with_an_offset(account: Account, scheduled_at: str) -> None:
    """No naive times, no unix seconds, no year before 1000: 422 naming the field."""
    response = await account.client.post("/v1/sms", json={**SMS, "scheduled_at": scheduled_at})
    assert response.status_code == 422
    assert "scheduled_at" in {error["field"] for error in response.json()["errors"]}


async def test_empty_recovery_window_requeues_nothing(account: Account) -> None:
    """``until`` not after ``since`` is an empty window: 202 with nothing requeued (was 422)."""
    endpoint = (await account.client.post("/v1/endpoints", json=ENDPOINT)).json()
    response = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/recover",
        json={"since": "2025-06-30T12:00:00Z", "until": "2025-06-30T11:00:00Z"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["requeued"] == 0


@pytest.mark.parametrize(("window", "status"), [("7d", 200), ("366d", 200), ("1.5h", 422)])
async def test_stats_window(account: Account, window: str, status: int) -> None:
    """The stats window is a whole number of s, m, h or d, at most 366 days."""
    endpoint = (await account.client.post("/v1/endpoints", json=ENDPOINT)).json()
    response = await account.client.get(
        f"/v1/endpoints/{endpoint['id']}/stats", params={"window": window}
    )
    assert response.status_code == status, response.text
