"""The statushooks command line, run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acceptance_support import Server

from statushooks import signing

STATUSHOOKS = str(Path(sys.executable).parent / "statushooks")
TIMEOUT = 30  # seconds any one command may take


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    return subprocess.run(
        [STATUSHOOKS, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**clean, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("serve",),
        ("worker",),
        ("migrate",),
        ("accounts", "create"),
        ("endpoints", "list"),
        ("endpoints", "create"),
        ("endpoints", "test"),
        ("recover",),
        ("listen",),
    ],
)
def test_help_everywhere(args: tuple[str, ...]) -> None:
    """--help works on every command and says what it does."""
    result = cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_python_dash_m() -> None:
    """python -m statushooks runs the same command line."""
    result = subprocess.run(
        [sys.executable, "-m", "statushooks", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0
    assert "serve" in result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("serve", "--bogus"), 2),
        (("serve", "--port", "seventy"), 2),
        (("nope",), 2),
        (("recover", "ep_x", "--api-key", "k", "--since", "soon"), 2),
        (("endpoints", "list"), 2),
        (("endpoints", "list", "--api-key", "k", "--api-url", "http://127.0.0.1:1"), 1),
        (("migrate", "--db", "mysql://x/y"), 1),
    ],
)
def test_errors_are_one_line(args: tuple[str, ...], code: int) -> None:
    """Bad flags and failures print one line on stderr and exit non-zero, no traceback."""
    assert_one_line_error(cli(*args), code)


def test_bad_setting_from_environment(tmp_path: Path) -> None:
    """An invalid STATUSHOOKS_* setting is one clear line, exit 1."""
    result = cli(
        "migrate", "--db", str(tmp_path / "x.db"), env={"STATUSHOOKS_RETRY_SCHEDULE": "soon"}
    )
    line = assert_one_line_error(result, 1)
    assert "retry_schedule" in line


def test_placeholder_admin_token_refused(tmp_path: Path) -> None:
    """Outside development a placeholder admin token is refused at start."""
    env = {"STATUSHOOKS_ENVIRONMENT": "production", "STATUSHOOKS_ADMIN_TOKEN": "changethis"}
    result = cli("serve", "--db", str(tmp_path / "x.db"), env=env)
    assert "ADMIN_TOKEN" in assert_one_line_error(result, 1)


def test_migrate_and_accounts_create(tmp_path: Path) -> None:
    """migrate creates the schema; accounts create prints a working API key."""
    db = str(tmp_path / "cli.db")
    assert cli("migrate", "--db", db).returncode == 0
    result = cli("accounts", "create", "Acme", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["id"].startswith("acc_")
    assert created["api_key"].startswith("sk_")
    plain = cli("accounts", "create", "Other", "--db", db)
    assert "sk_" in plain.stdout
    assert "shown only once" in plain.stderr


async def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args, env=env)


async def test_endpoints_commands_against_the_api(server: Server) -> None:
    """endpoints create/list/test and recover talk to a running API."""
    account = await server.account()
    env = {"STATUSHOOKS_API_URL": server.url, "STATUSHOOKS_API_KEY": account.api_key}
    created = await _run(
        "endpoints",
        "create",
        "http://127.0.0.1:9/x",
        "-e",
        "sms.message.updated",
        "--json",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    endpoint = json.loads(created.stdout)
    listed = await _run("endpoints", "list", env=env)
    assert endpoint["id"] in listed.stdout
    test = await _run("endpoints", "test", endpoint["id"], "--no-wait", env=env)
    assert test.returncode == 0, test.stderr
    assert "queued" in test.stdout
    recover = await _run("recover", endpoint["id"], "--since", "2h", env=env)
    assert recover.returncode == 0, recover.stderr
    assert "0 failed deliveries" in recover.stdout
    missing = await _run("endpoints", "test", "ep_nope", env=env)
    assert "404" in assert_one_line_error(missing, 1)
    bad_type = await _run("endpoints", "test", endpoint["id"], "--event-type", "x", env=env)
    assert "422" in assert_one_line_error(bad_type, 1)


async def test_endpoints_verification_commands(server: Server) -> None:
    """endpoints create --verification shows why a pending endpoint is pending; endpoints
    verify runs it again and fails in one line while it is refused."""
    account = await server.account()
    env = {"STATUSHOOKS_API_URL": server.url, "STATUSHOOKS_API_KEY": account.api_key}
    url = f"http://127.0.0.1:{_free_port()}/x"  # nothing listens: the handshake cannot connect
    created = await _run("endpoints", "create", url, "--verification", "cloudevents", env=env)
    assert created.returncode == 0, created.stderr
    assert "pending (cloudevents verification)" in created.stdout
    assert "why" in created.stdout
    endpoint_id = created.stdout.split()[1]
    again = await _run("endpoints", "verify", endpoint_id, env=env)
    assert "verification failed" in assert_one_line_error(again, 1)
    bad = await _run("endpoints", "create", url, "--verification", "maybe", env=env)
    assert "422" in assert_one_line_error(bad, 1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_for_line(stream: asyncio.StreamReader, needle: str, timeout: float = 15.0) -> str:
    seen = ""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"stream ended before {needle!r}: {seen}")
            seen += line.decode()
    return seen


async def test_listen_receives_signed_events(server: Server) -> None:
    """listen verifies and pretty-prints an event the dispatcher delivers; rejects a bad one."""
    account = await server.account()
    port = _free_port()
    endpoint = (
        await account.client.post(
            "/v1/endpoints",
            json={"url": f"http://127.0.0.1:{port}/", "enabled_events": ["sms.message.updated"]},
        )
    ).json()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    proc = await asyncio.create_subprocess_exec(
        STATUSHOOKS,
        "listen",
        "--port",
        str(port),
        "--secret",
        endpoint["secret"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, "COLUMNS": "120"},
    )
    try:
        assert proc.stdout is not None
        await _wait_for_line(proc.stdout, "listening on")
        test = await account.client.post(
            f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "sms.message.updated"}
        )
        assert test.status_code == 202
        shown = await _wait_for_line(proc.stdout, "╰")
        assert "YCloudSmsUpdatedEvent" in shown
        assert '"type": "sms.message.updated"' in shown

        body = b'{"id": "evt_x", "type": "sms.message.updated"}'
        headers = signing.webhook_headers(
            msg_id="evt_x", timestamp=int(time.time()), body=body, secrets=["whsec_" + "A" * 32]
        )
        response = await server.client.post(
            f"http://127.0.0.1:{port}/", content=body, headers=headers
        )
        assert response.status_code == 401
        assert "rejected" in await _wait_for_line(proc.stdout, "rejected")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.stderr is not None
    assert "Traceback" not in (await proc.stderr.read()).decode()


async def test_listen_passes_both_verifications(server: Server) -> None:
    """listen grants the CloudEvents handshake and echoes a signed challenge: an endpoint of
    either mode pointing at it becomes active (the challenge once listen has the secret)."""
    account = await server.account()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    pending = await account.client.post(
        "/v1/endpoints", json={"url": url, "verification": "challenge"}
    )
    assert pending.json()["status"] == "pending"  # nothing listens yet
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    proc = await asyncio.create_subprocess_exec(
        STATUSHOOKS, "listen", "--port", str(port), "--secret", pending.json()["secret"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**clean, "COLUMNS": "120"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await _wait_for_line(proc.stdout, "listening on")
        verified = await account.client.post(f"/v1/endpoints/{pending.json()['id']}/verify")
        assert verified.json()["status"] == "active", verified.text
        assert "echoed" in await _wait_for_line(proc.stdout, "challenge")
        handshake = await account.client.post(
            "/v1/endpoints", json={"url": url, "verification": "cloudevents"}
        )
        assert handshake.json()["status"] == "active", handshake.text
        assert "granted to 127.0.0.1" in await _wait_for_line(proc.stdout, "handshake")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.stderr is not None
    assert "Traceback" not in (await proc.stderr.read()).decode()
