"""The dispatcher logs one line per attempt outcome: endpoint, event, answer, duration, and
what comes next (the server's retry schedule here is 0s,1s,1s)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from acceptance_support import Server

from statushooks import testing

WAIT = 20.0  # seconds for the attempts to be made and logged


async def _attempt_records(
    caplog: pytest.LogCaptureFixture, endpoint_id: str, count: int
) -> list[logging.LogRecord]:
    async with asyncio.timeout(WAIT):
        while True:
            records = [
                r
                for r in caplog.records
                if r.name == "statushooks.dispatcher"
                and getattr(r, "endpoint", None) == endpoint_id
            ]
            if len(records) >= count:
                return records
            await asyncio.sleep(0.05)


async def test_attempt_outcomes_are_logged(
    server: Server, sink: testing.WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="statushooks.dispatcher")
    sink.set_mode("/flaky", testing.Mode(fail_times=1))
    account = await server.account()
    created = await account.client.post("/v1/endpoints", json={"url": sink.url("/flaky")})
    endpoint = created.json()
    test = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "sms.message.updated"}
    )
    delivery = test.json()
    first, second = await _attempt_records(caplog, endpoint["id"], 2)

    assert (first.attempt, first.status, first.outcome) == (1, 500, "retry")
    assert first.next_retry is not None
    assert (second.attempt, second.status, second.outcome) == (2, 200, "succeed")
    assert second.next_retry is None
    for record in (first, second):
        assert record.event == delivery["event_id"]
        assert record.delivery == delivery["id"]
        assert record.event_type == "sms.message.updated"
        assert record.duration_ms >= 0
    message = first.getMessage()
    assert message.startswith(f"attempt 1 of {delivery['event_id']} to {endpoint['id']}: 500 in ")
    assert f"retry (next at {first.next_retry})" in message
    assert second.getMessage().endswith("ms, succeed")
