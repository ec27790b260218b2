"""The statushooks command line, run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from acceptance_support import Server

from statushooks import __version__, receiver, signing, testing

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
        ("endpoints", "get"),
        ("endpoints", "update"),
        ("endpoints", "pause"),
        ("endpoints", "resume"),
        ("endpoints", "delete"),
        ("endpoints", "rotate-secret"),
        ("messages", "list"),
        ("messages", "get"),
        ("events", "list"),
        ("events", "get"),
        ("deliveries", "list"),
        ("deliveries", "get"),
        ("deliveries", "retry"),
        ("recover",),
        ("listen",),
        ("prune",),
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
        (("endpoints", "list", "--api-key", "k", "--api-url", "not-a-url"), 2),
        (("endpoints", "update", "ep_x", "--api-key", "k"), 2),
        (("messages", "list", "--api-key", "k", "--limit", "0"), 2),
        (("serve", "--log-format", "xml"), 2),
        (("migrate", "--db", "mysql://x/y"), 1),
        (("prune", "--db", "x.db", "--older-than", "soon"), 1),
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


async def test_prune_deletes_old_rows(tmp_path: Path) -> None:
    """prune deletes what is older than the period and says how much of each kind."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from statushooks import ids
    from statushooks.storage import tables
    from statushooks.storage.sql import Store

    db = tmp_path / "prune.db"
    store = await Store.open(f"sqlite:///{db}")
    try:
        for age in (timedelta(days=3), timedelta(hours=1)):
            started = datetime.now(UTC) - age
            row = {
                "id": ids.new_id("att", started.timestamp()),
                "delivery_id": "dlv_x",
                "endpoint_id": "ep_x",
                "number": 1,
                "started_at": started,
                "duration_ms": 1.0,
                "request_headers": {},
                "response_body": "",
            }
            await store.write(
                lambda tx, row=row: tx.conn.execute(sa.insert(tables.attempts), [row])
            )
    finally:
        await store.close()
    result = await _run("prune", "--db", str(db), "--older-than", "1d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "pruned (older than 1d): 1 attempts, 0 deliveries, 0 events, 0 messages, 0 idempotency keys"
    )
    default = await _run("prune", "--db", str(db))
    assert default.returncode == 0 and "older than 30d): 0 attempts" in default.stdout


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
    both = await _run(
        "endpoints",
        "create",
        "http://127.0.0.1:9/y",
        "--signature",
        "v1",
        "--signature",
        "v1a",
        env=env,
    )
    assert both.returncode == 0, both.stderr
    assert "whsec_" in both.stdout and "whpk_" in both.stdout and "whsk_" not in both.stdout
    listed = await _run("endpoints", "list", env=env)
    assert endpoint["id"] in listed.stdout
    test = await _run("endpoints", "test", endpoint["id"], "--no-wait", env=env)
    assert test.returncode == 0, test.stderr
    assert "queued" in test.stdout
    recover = await _run("recover", endpoint["id"], "--since", "2h", env=env)
    assert recover.returncode == 0, recover.stderr
    # The test delivery to a closed port is failed (0s,1s,1s) or still retrying by now.
    assert recover.stdout.split(" failed deliveries")[0] in ("0", "1"), recover.stdout
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


@pytest.mark.parametrize(("version", "key"), [("v1", "secret"), ("v1a", "public_key")])
async def test_listen_receives_signed_events(server: Server, version: str, key: str) -> None:
    """listen verifies (with a v1 secret or a v1a public key) and pretty-prints an event the
    dispatcher delivers; rejects a bad one."""
    account = await server.account()
    port = _free_port()
    endpoint = (
        await account.client.post(
            "/v1/endpoints",
            json={
                "url": f"http://127.0.0.1:{port}/",
                "enabled_events": ["sms.message.updated"],
                "signature_versions": [version],
            },
        )
    ).json()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    proc = await asyncio.create_subprocess_exec(
        STATUSHOOKS,
        "listen",
        "--port",
        str(port),
        "--secret",
        endpoint[key],
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


# -- the first hour: version, help, usage errors ------------------------------------------


def test_version() -> None:
    """statushooks --version prints the version."""
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"statushooks {__version__}"


@pytest.mark.parametrize("args", [(), ("endpoints",), ("deliveries",)])
def test_bare_command_prints_its_help(args: tuple[str, ...]) -> None:
    """A command without a subcommand prints its help, not an error."""
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(('statushooks', *args))} ")
    assert "error" not in result.stderr


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("endpoints", "create"), "statushooks endpoints create"),
        (("deliveries", "retry", "--api-key", "k"), "statushooks deliveries retry"),
        (("nope",), "statushooks"),
    ],
)
def test_usage_errors_point_at_the_subcommand_help(args: tuple[str, ...], command: str) -> None:
    """A bad command line names the --help of the command that refused it."""
    line = assert_one_line_error(cli(*args), 2)
    assert line.endswith(f"(see {command} --help)")


@pytest.mark.parametrize("columns", ["80", "200"])
def test_help_shows_whole_flag_names_and_bracketed_text(columns: str) -> None:
    """At 80 columns flag names are whole; "[env …; default …]" is shown as written."""
    result = cli("serve", "--help", env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    for flag in ("--public-base-url", "--allow-private-urls", "--log-format", "--workers"):
        assert flag in result.stdout
    assert "STATUSHOOKS_DATABASE_URL" in result.stdout
    assert "…" not in "".join(line[:34] for line in result.stdout.splitlines())


# -- serve and the database: failures before anything starts ------------------------------


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    """A second serve on a used port fails with one line before it opens the database."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("serve", "--port", port, "--db", str(tmp_path / "x.db"))
    line = assert_one_line_error(result, 1)
    assert "in use" in line
    assert "--port" in line
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_database_in_a_missing_directory_is_one_line(command: str, tmp_path: Path) -> None:
    """A SQLite file in a directory that does not exist: one line naming it, no banner."""
    args = [command, "--db", str(tmp_path / "missing" / "x.db")]
    if command == "serve":
        args += ["--port", str(_free_port())]
    result = cli(*args)
    line = assert_one_line_error(result, 1)
    assert f"the directory {tmp_path / 'missing'} does not exist" in line
    assert "listening" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_unreachable_postgresql_is_one_line(command: str) -> None:
    """PostgreSQL that does not answer: one line naming the database, its password hidden."""
    args = [command, "--db", f"postgresql://u:secret@127.0.0.1:{_free_port()}/x"]
    if command == "serve":
        args += ["--port", str(_free_port())]
    line = assert_one_line_error(cli(*args), 1)
    assert "cannot open the database postgresql://u:***@127.0.0.1:" in line
    assert "secret" not in line


def test_accounts_create_says_which_database(tmp_path: Path) -> None:
    """accounts create names the database it wrote to (absolute path for SQLite)."""
    result = cli("accounts", "create", "Acme", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"database  SQLite file {tmp_path / 'statushooks.db'}" in result.stdout
    as_json = cli("accounts", "create", "Acme", "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["database"] == f"SQLite file {tmp_path / 'statushooks.db'}"


async def _start_serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    proc = await asyncio.create_subprocess_exec(
        STATUSHOOKS,
        "serve",
        "--port",
        str(port),
        "--db",
        str(tmp_path / "serve.db"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, "COLUMNS": "200", **(env or {})},
        cwd=tmp_path,
    )
    return proc, port


async def _stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.terminate()
    await asyncio.wait_for(proc.wait(), timeout=TIMEOUT)
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode()


async def test_serve_banner_comes_once_it_listens(tmp_path: Path) -> None:
    """The banner is the line after the API started: the port answers by then."""
    proc, port = await _start_serve(tmp_path, "--in-process-dispatcher")
    try:
        assert proc.stderr is not None
        seen = await _wait_for_line(proc.stderr, "listening on", timeout=TIMEOUT)
        banner = seen.splitlines()[-1]
        assert banner.startswith(f"statushooks {__version__} listening on http://127.0.0.1:{port}")
        assert f"SQLite file {tmp_path / 'serve.db'}" in banner
        assert "Application startup complete" in seen  # the banner follows uvicorn's start
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        assert "Context impl" not in seen  # Alembic says only what it migrates
        assert "Running upgrade" in seen
    finally:
        rest = await _stop(proc)
    assert "Traceback" not in rest


async def test_serve_json_logs(tmp_path: Path) -> None:
    """--log-format json: every stderr line of serve and its dispatcher is one JSON object,
    uvicorn's and Alembic's included, and the banner too."""
    proc, _ = await _start_serve(tmp_path, "--log-format", "json")
    seen = ""
    try:
        assert proc.stderr is not None
        seen = await _wait_for_line(proc.stderr, "listening on", timeout=TIMEOUT)
    finally:
        seen += await _stop(proc)
    records = [json.loads(line) for line in seen.splitlines() if line.strip()]
    loggers = {record["logger"] for record in records}
    assert {"uvicorn.error", "alembic.runtime.migration", "statushooks.cli"} <= loggers
    assert "statushooks.dispatcher" in loggers  # the dispatcher's child process too
    assert all({"time", "level", "message"} <= record.keys() for record in records)


# -- the resource commands against a running API ------------------------------------------


async def test_resource_commands_against_the_api(server: Server, sink: testing.WebhookSink) -> None:
    """endpoints get/update/pause/resume/rotate-secret/delete, messages, events and
    deliveries list/get, deliveries retry: each through the API."""
    account = await server.account()
    env = {"STATUSHOOKS_API_URL": server.url, "STATUSHOOKS_API_KEY": account.api_key}
    created = await _run("endpoints", "create", sink.url(), "--json", env=env)
    endpoint = json.loads(created.stdout)
    ep = endpoint["id"]

    got = await _run("endpoints", "get", ep, env=env)
    assert got.returncode == 0, got.stderr
    assert f"url              {sink.url()}" in got.stdout
    updated = await _run(
        "endpoints", "update", ep, "--description", "billing", "-e", "sms.message.updated",
        "--rate-limit", "5", "--json", env=env,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    body = json.loads(updated.stdout)
    assert (body["description"], body["enabled_events"], body["rate_limit"]) == (
        "billing",
        ["sms.message.updated"],
        5.0,
    )
    paused = await _run("endpoints", "pause", ep, env=env)
    assert paused.stdout.strip() == f"endpoint {ep} is paused"
    assert (await account.client.get(f"/v1/endpoints/{ep}")).json()["status"] == "paused"
    resumed = await _run("endpoints", "resume", ep, env=env)
    assert resumed.stdout.strip() == f"endpoint {ep} is active"
    rotated = await _run("endpoints", "rotate-secret", ep, "--json", env=env)
    secret = json.loads(rotated.stdout)
    assert secret["secret"] != endpoint["secret"]
    assert [p["secret"] for p in secret["previous"]] == [endpoint["secret"]]

    sms = await account.client.post(
        "/v1/sms", json={"to": "+447810000001", "from": "Acme", "text": "Hi"}
    )
    message = sms.json()["id"]
    report = await account.client.post(
        f"/v1/messages/{message}/status", json={"status": "delivered"}
    )
    assert report.status_code == 200, report.text
    messages = await _run("messages", "list", env=env)
    assert message in messages.stdout
    shown = await _run("messages", "get", message, env=env)
    assert "delivered" in shown.stdout
    events = json.loads(
        (await _run("events", "list", "--message", message, "--json", env=env)).stdout
    )
    (event,) = [e for e in events["data"] if e["type"] == "sms.message.updated"]
    event_shown = await _run("events", "get", event["id"], env=env)
    assert '"type": "sms.message.updated"' in event_shown.stdout

    deliveries = await _wait_for_deliveries(env, ep)
    delivery = deliveries[0]["id"]
    one = await _run("deliveries", "get", delivery, env=env)
    assert "state                 succeeded" in one.stdout
    retried = await _run("deliveries", "retry", delivery, env=env)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.startswith(f"delivery {delivery} queued again")
    listed = await _run("deliveries", "list", "--endpoint", ep, "--limit", "1", env=env)
    assert delivery in listed.stdout

    deleted = await _run("endpoints", "delete", ep, env=env)
    assert deleted.stdout.strip() == f"endpoint {ep} deleted"
    gone = await _run("endpoints", "get", ep, env=env)
    assert f"GET /v1/endpoints/{ep} answered 404" in assert_one_line_error(gone, 1)


async def _wait_for_deliveries(env: dict[str, str], endpoint_id: str) -> list[dict[str, object]]:
    """The endpoint's deliveries once they have all succeeded (bounded wait)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        listed = await _run("deliveries", "list", "--endpoint", endpoint_id, "--json", env=env)
        data: list[dict[str, object]] = json.loads(listed.stdout)["data"]
        if data and all(d["state"] == "succeeded" for d in data):
            return data
        await asyncio.sleep(0.2)
    raise AssertionError("the deliveries did not succeed in time")


async def test_api_errors_are_one_line_without_repeats(server: Server) -> None:
    """A refused field is said once; a loopback URL on a guarded server names the setting;
    a wrong key says where keys work."""
    account = await server.account()
    env = {"STATUSHOOKS_API_URL": server.url, "STATUSHOOKS_API_KEY": account.api_key}
    bad = await _run("endpoints", "create", "not-a-url", env=env)
    line = assert_one_line_error(bad, 1)
    assert line.count("http(s) URL") == 1
    assert line.count("url:") == 1
    wrong_key = await _run("messages", "list", env={**env, "STATUSHOOKS_API_KEY": "sk_nope"})
    assert "accounts create" in assert_one_line_error(wrong_key, 1)


async def test_listen_secret_from_environment_shows_headers_and_saves(
    server: Server, tmp_path: Path
) -> None:
    """listen takes its secret from STATUSHOOKS_LISTEN_SECRET; --show-headers prints the
    headers; --save writes each request as received, replayable byte for byte."""
    account = await server.account()
    port = _free_port()
    endpoint = (
        await account.client.post("/v1/endpoints", json={"url": f"http://127.0.0.1:{port}/"})
    ).json()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    saved = tmp_path / "saved"
    proc = await asyncio.create_subprocess_exec(
        STATUSHOOKS, "listen", "--port", str(port), "--show-headers", "--save", str(saved),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, "COLUMNS": "120", "STATUSHOOKS_LISTEN_SECRET": endpoint["secret"]},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await _wait_for_line(proc.stdout, "listening on")
        test = await account.client.post(
            f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "sms.message.updated"}
        )
        assert test.status_code == 202
        shown = await _wait_for_line(proc.stdout, "╰")
        assert "webhook-signature: v1," in shown.lower()
        assert "✓ YCloudSmsUpdatedEvent" in shown
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
    (request,) = saved.iterdir()
    raw = request.read_bytes()
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST / HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert request.name.endswith(f"-{headers['webhook-id']}.http")
    event = receiver.verify_and_parse(body, headers, endpoint["secret"])
    assert event.type == "sms.message.updated"


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
