"""The ``statushooks`` command line (typer + rich).

Commands that run statushooks itself (``serve``, ``worker``, ``migrate``, ``accounts create``)
work on the database directly: settings come from ``STATUSHOOKS_*`` with flags for the common
ones. Commands that manage an account's objects (``endpoints …``, ``recover``) talk to a running
API over HTTP with ``--api-url``/``--api-key`` (or ``STATUSHOOKS_API_URL``/``STATUSHOOKS_API_KEY``),
so they work against a remote deployment and go through the same checks as any client.

Every error is one line on stderr and a non-zero exit status: 1 for a failure, 2 for bad usage.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from statushooks import __version__, config, durations, exceptions, receiver, verification

if TYPE_CHECKING:
    from statushooks import service

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_LISTEN_PORT = 9000
DEFAULT_API_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
API_TIMEOUT = 30.0  # seconds per API request
WAIT_TIMEOUT = 300.0  # seconds ``recover`` and ``endpoints test`` wait for deliveries
POLL_INTERVAL = 0.5  # seconds between two looks at a delivery or backlog
MAX_LISTEN_BODY = 1024 * 1024  # bytes ``listen`` accepts per request
USAGE_ERROR = 2  # exit status of a bad command line
INTERRUPTED = 130  # exit status after Ctrl-C

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="statushooks",
    help="Delivery-status webhooks for SMS, email and voice: signed, retried, ordered.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain text: as rich markup, "[env STATUSHOOKS_…; default …]" vanished.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
accounts_app = typer.Typer(
    help="Manage accounts (directly in the database).", no_args_is_help=True, rich_markup_mode=None
)
endpoints_app = typer.Typer(
    help="Manage endpoints through the API.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(endpoints_app, name="endpoints")

# -- shared options ------------------------------------------------------------------------

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///file.db, postgresql://…) or a SQLite file path "
        "[env STATUSHOOKS_DATABASE_URL; default ./statushooks.db].",
        show_default=False,
    ),
]
PublicBaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Base URL of tracked links and event sources [env STATUSHOOKS_PUBLIC_BASE_URL; "
        "default http://HOST:PORT].",
        show_default=False,
    ),
]
AdminToken = Annotated[
    str | None,
    typer.Option(
        help="Token of the admin routes [env STATUSHOOKS_ADMIN_TOKEN].", show_default=False
    ),
]
RetrySchedule = Annotated[
    str | None,
    typer.Option(
        help="Delays before each attempt, e.g. 0s,5s,5m,30m [env STATUSHOOKS_RETRY_SCHEDULE].",
        show_default=False,
    ),
]
AllowPrivateUrls = Annotated[
    bool | None,
    typer.Option(
        "--allow-private-urls/--no-allow-private-urls",
        help="Allow endpoints on private and loopback addresses [env "
        "STATUSHOOKS_ALLOW_PRIVATE_URLS].",
        show_default=False,
    ),
]
DeliveryTimeout = Annotated[
    float | None,
    typer.Option(
        help="Seconds one attempt may take [env STATUSHOOKS_DELIVERY_TIMEOUT].", show_default=False
    ),
]
ApiUrl = Annotated[
    str, typer.Option(envvar="STATUSHOOKS_API_URL", help="The statushooks API to talk to.")
]
ApiKey = Annotated[
    str,
    typer.Option(
        envvar="STATUSHOOKS_API_KEY", help="Your account's API key (sk_…).", show_default=False
    ),
]


def database_url(value: str) -> str:
    """A database URL; a bare path means a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite+aiosqlite:///{value}"


def load(
    *,
    db: str | None = None,
    public_base_url: str | None = None,
    admin_token: str | None = None,
    retry_schedule: str | None = None,
    allow_private_urls: bool | None = None,
    delivery_timeout: float | None = None,
    workers: int | None = None,
) -> config.Settings:
    """Settings from the environment, with the given flags on top."""
    flags: dict[str, object] = {
        "database_url": database_url(db) if db is not None else None,
        "public_base_url": public_base_url,
        "admin_token": admin_token,
        "retry_schedule": retry_schedule,
        "allow_private_urls": allow_private_urls,
        "delivery_timeout": delivery_timeout,
        "workers": workers,
    }
    from statushooks.storage import engine as engines  # heavy: only for commands that need it

    settings = config.load_settings(**{k: v for k, v in flags.items() if v is not None})
    engines.normalize_url(settings.database_url)  # refuse an unsupported URL before starting
    return settings


def run(coroutine: Any) -> Any:
    from statushooks import worker

    return worker.run(coroutine)


# -- serve, worker, migrate ----------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    db: Db = None,
    public_base_url: PublicBaseUrl = None,
    admin_token: AdminToken = None,
    retry_schedule: RetrySchedule = None,
    allow_private_urls: AllowPrivateUrls = None,
    delivery_timeout: DeliveryTimeout = None,
    dispatcher: Annotated[bool, typer.Option(help="Also deliver webhooks.")] = True,
    dispatcher_process: Annotated[
        bool,
        typer.Option(
            "--dispatcher-process/--in-process-dispatcher",
            help="Deliver from a child process (the API and the dispatcher each get a core), "
            "or from serve's own process (the API's, with one API process).",
        ),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            # No [brackets]: rich would take them for markup and drop them.
            help="API processes serving the port (env STATUSHOOKS_WORKERS; default "
            f"{config.DEFAULT_WORKERS}: on 2 cores with SQLite, 2 answered no faster than 1). "
            "Above 1, this process starts, restarts and stops them and answers no request "
            "itself. SQLite in memory: always 1.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the API and the dispatcher (migrates the database first)."""
    if public_base_url is None and "STATUSHOOKS_PUBLIC_BASE_URL" not in os.environ:
        public_base_url = f"http://{host}:{port}"
    settings = load(
        db=db,
        public_base_url=public_base_url,
        admin_token=admin_token,
        retry_schedule=retry_schedule,
        allow_private_urls=allow_private_urls,
        delivery_timeout=delivery_timeout,
        workers=workers,
    )
    count = settings.workers
    if count > 1 and not _can_be_shared(settings.database_url):
        err.print(
            f"warning: SQLite in memory cannot be shared between processes: one API process, "
            f"not {count}",
            markup=False,
        )
        count = 1
    if count == 1:
        _serve_here(settings, host, port, dispatcher=dispatcher, apart=dispatcher_process)
    else:
        _serve_apart(settings, host, port, count, dispatcher=dispatcher, apart=dispatcher_process)


def _serve_here(
    settings: config.Settings, host: str, port: int, *, dispatcher: bool, apart: bool
) -> None:
    """``serve`` with one API process: this one."""
    import uvicorn

    from statushooks.api import create_app

    asgi = create_app(settings, run_dispatcher=dispatcher, dispatcher_process=apart)
    err.print(f"statushooks {__version__} on http://{host}:{port} (docs at /docs)")
    server = uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level="info"))
    run(server.serve())
    if not server.started:
        raise exceptions.StatushooksError(f"the server did not start on {host}:{port}")


def _serve_apart(
    settings: config.Settings, host: str, port: int, count: int, *, dispatcher: bool, apart: bool
) -> None:
    """``serve`` with ``count`` API processes, started, restarted and stopped by this one."""
    from statushooks import supervisor, worker

    logging.basicConfig(level=logging.INFO, format=worker.LOG_FORMAT)
    sock = supervisor.listen(host, port)
    try:
        err.print(
            f"statushooks {__version__} on http://{host}:{port} (docs at /docs), "
            f"{count} API processes"
        )
        stopped_by = run(
            supervisor.run_service(
                settings, sock, workers=count, dispatch=dispatcher, dispatcher_process=apart
            )
        )
    finally:
        sock.close()
    # End as one API process does (uvicorn): by the signal that stopped the service, so a
    # SIGTERM reads as one to whoever waits for it, and a Ctrl-C exits with 130.
    signal.raise_signal(stopped_by)


def _can_be_shared(url: str) -> bool:
    """Whether processes other than this one can open the database (not SQLite in memory)."""
    from statushooks.storage import engine as engines

    url = engines.normalize_url(url)
    return not engines.is_sqlite_url(url) or engines.sqlite_file(url) is not None


@app.command()
def worker(
    db: Db = None,
    public_base_url: PublicBaseUrl = None,
    retry_schedule: RetrySchedule = None,
    allow_private_urls: AllowPrivateUrls = None,
    delivery_timeout: DeliveryTimeout = None,
) -> None:
    """Run a dispatcher only: delivers queued webhooks until SIGTERM or Ctrl-C."""
    from statushooks import worker as workers

    settings = load(
        db=db,
        public_base_url=public_base_url,
        retry_schedule=retry_schedule,
        allow_private_urls=allow_private_urls,
        delivery_timeout=delivery_timeout,
    )
    err.print("statushooks worker started; Ctrl-C to stop")
    run(workers.run_worker(settings))


@app.command()
def migrate(db: Db = None) -> None:
    """Bring the database schema up to date (serve and worker also do this on start)."""
    from statushooks.storage.sql import Store

    settings = load(db=db)

    async def upgrade() -> None:
        store = await Store.open(settings.database_url)
        await store.close()

    run(upgrade())
    out.print("database schema is up to date")


# -- accounts ------------------------------------------------------------------------------


@accounts_app.command("create")
def create_account(
    name: Annotated[str, typer.Argument(help="A name for the account.")],
    db: Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an account and print its API key (shown only once)."""
    from statushooks import service, sms
    from statushooks.storage.sql import Store

    if not name.strip() or len(name) > 200:
        raise exceptions.ValidationError("the account name must have 1 to 200 characters")
    settings = load(db=db)

    async def create() -> service.NewAccount:
        store = await Store.open(settings.database_url)
        try:
            svc = service.Service(
                store=store, settings=settings, pricing=sms.PricingTable.load(settings.pricing_file)
            )
            return await svc.create_account(name)
        finally:
            await store.close()

    new = run(create())
    if as_json:
        body = {"id": new.account.id, "name": new.account.name, "api_key": new.api_key}
        out.print_json(data=body)
        return
    out.print(f"account  {new.account.id}  ({new.account.name})")
    out.print(f"API key  {new.api_key}")
    err.print("Keep the API key now: it is shown only once.")


# -- the API client ------------------------------------------------------------------------


class ApiClient:
    """A tiny blocking JSON client of the statushooks API (standard library only)."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=API_TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise exceptions.StatushooksError(_problem_line(method, path, exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise exceptions.StatushooksError(
                f"cannot reach the API at {self.url}: {reason}"
            ) from None
        return json.loads(raw) if raw else None


def _problem_line(method: str, path: str, exc: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(exc.read())
        detail = problem.get("detail") or problem.get("title")
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
    except (ValueError, AttributeError, KeyError, TypeError):
        detail, fields = exc.reason, ""
    line = f"{method} {path} answered {exc.code}: {detail}"
    return f"{line} ({fields})" if fields and fields not in str(detail) else line


# -- endpoints -----------------------------------------------------------------------------


@endpoints_app.command("list")
def list_endpoints(
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List your endpoints."""
    client = ApiClient(api_url, api_key)
    endpoints: list[dict[str, Any]] = []
    after = ""
    while True:
        page = client.request("GET", f"/v1/endpoints?limit=250{after}")
        endpoints += page["data"]
        if page["next_cursor"] is None:
            break
        after = f"&after={page['next_cursor']}"
    if as_json:
        out.print_json(data=endpoints)
        return
    table = Table()
    for column in ("id", "url", "status", "events", "description"):
        table.add_column(column, overflow="fold")
    for endpoint in endpoints:
        events = ", ".join(endpoint["enabled_events"]) or "all"
        table.add_row(
            endpoint["id"], endpoint["url"], endpoint["status"], events, endpoint["description"]
        )
    out.print(table)


@endpoints_app.command("create")
def create_endpoint(
    url: Annotated[str, typer.Argument(help="Where to POST the webhooks.")],
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    description: Annotated[str, typer.Option(help="A note for humans.")] = "",
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="Subscribe to this event type (repeat; none = all)."),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Only events of this message status (repeat)."),
    ] = None,
    verification: Annotated[
        str,
        typer.Option(
            help="Verify it before it receives anything: none, cloudevents (the CloudEvents "
            "webhook handshake) or challenge (echo a signed challenge)."
        ),
    ] = "none",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an endpoint and print its signing secret."""
    body = {
        "url": url,
        "description": description,
        "enabled_events": event or [],
        "statuses": status or [],
        "verification": verification,
    }
    endpoint = ApiClient(api_url, api_key).request("POST", "/v1/endpoints", body)
    if as_json:
        out.print_json(data=endpoint)
        return
    out.print(f"endpoint  {endpoint['id']}  → {endpoint['url']}")
    out.print(f"secret    {endpoint['secret']}")
    _print_verification(endpoint)


@endpoints_app.command("verify")
def verify_endpoint(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint id.")],
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
) -> None:
    """Run the endpoint's verification again (it receives nothing until it passes)."""
    endpoint = ApiClient(api_url, api_key).request("POST", f"/v1/endpoints/{endpoint_id}/verify")
    _print_verification(endpoint)
    if endpoint["status"] == "pending":
        raise exceptions.StatushooksError(f"verification failed: {endpoint['verification_error']}")


def _print_verification(endpoint: dict[str, Any]) -> None:
    if endpoint["verification"] == "none":
        return
    out.print(f"status    {endpoint['status']} ({endpoint['verification']} verification)")
    if endpoint["verification_error"]:
        out.print(f"why       {endpoint['verification_error']}")


@endpoints_app.command("test")
def test_endpoint(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint id.")],
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    event_type: Annotated[
        str, typer.Option(help="Which event type's example to send.")
    ] = "com.interact.messages.sms.status",
    wait: Annotated[bool, typer.Option(help="Wait for the outcome of the delivery.")] = True,
) -> None:
    """Send an example event to the endpoint, signed, through the normal pipeline."""
    client = ApiClient(api_url, api_key)
    body = {"event_type": event_type}
    delivery = client.request("POST", f"/v1/endpoints/{endpoint_id}/test", body)
    out.print(f"delivery {delivery['id']} queued ({event_type})")
    if not wait:
        return
    deadline = time.monotonic() + WAIT_TIMEOUT
    with err.status("waiting for the endpoint to answer…"):
        while delivery["state"] in ("pending", "leased") and delivery["attempts"] == 0:
            if time.monotonic() > deadline:
                raise exceptions.StatushooksError(
                    "no attempt was made in time: is a worker running?"
                )
            time.sleep(POLL_INTERVAL)
            delivery = client.request("GET", f"/v1/deliveries/{delivery['id']}")
    answer = delivery["last_response_status"] or delivery["last_error"] or "no answer"
    if delivery["state"] == "succeeded":
        out.print(f"delivered: the endpoint answered {answer}")
        return
    raise exceptions.StatushooksError(f"the first attempt failed ({answer}); it will be retried")


# -- recover -------------------------------------------------------------------------------


@app.command()
def recover(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint id.")],
    api_key: ApiKey,
    since: Annotated[str, typer.Option(help="How far back, e.g. 30m, 2h, 3d.")] = "1h",
    until: Annotated[
        str | None, typer.Option(help="Up to how long ago (default: now).", show_default=False)
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    wait: Annotated[bool, typer.Option(help="Show progress until the backlog drains.")] = True,
) -> None:
    """Re-send every failed delivery of the endpoint in the window, with a progress bar."""
    now = datetime.now(UTC)
    body: dict[str, str] = {"since": _ago(now, since, "--since")}
    if until is not None:
        body["until"] = _ago(now, until, "--until")
    client = ApiClient(api_url, api_key)
    result = client.request("POST", f"/v1/endpoints/{endpoint_id}/recover", body)
    total = int(result["requeued"])
    out.print(f"{total} failed deliveries queued again")
    if wait and total:
        _follow_backlog(client, endpoint_id, total)


def _ago(now: datetime, text: str, flag: str) -> str:
    try:
        seconds = durations.parse_duration(text)
    except exceptions.ConfigurationError as exc:
        raise typer.BadParameter(exc.message, param_hint=flag) from None
    return (now - timedelta(seconds=seconds)).isoformat()


def _follow_backlog(client: ApiClient, endpoint_id: str, total: int) -> None:
    columns = (
        TextColumn("re-delivering"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
    )
    deadline = time.monotonic() + WAIT_TIMEOUT
    with Progress(*columns, TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task("recover", total=total)
        while time.monotonic() < deadline:
            stats = client.request("GET", f"/v1/endpoints/{endpoint_id}/stats")
            progress.update(task, completed=max(0, total - int(stats["backlog"])))
            if stats["backlog"] == 0:
                return
            time.sleep(POLL_INTERVAL)
    err.print("still delivering; follow with `statushooks endpoints list` or the API")


# -- listen --------------------------------------------------------------------------------


@app.command()
def listen(
    secret: Annotated[
        list[str],
        typer.Option(
            envvar="STATUSHOOKS_LISTEN_SECRET",
            help="The endpoint's signing secret (whsec_…); repeat during a rotation.",
            show_default=False,
        ),
    ],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = (
        DEFAULT_LISTEN_PORT
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
) -> None:
    """Receive webhooks locally: verify each signature and pretty-print the event. It also
    grants the CloudEvents webhook handshake and echoes a signed verification challenge, so a
    verified endpoint can point here."""
    handler = _listen_handler(tuple(secret))
    try:
        httpd = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise exceptions.StatushooksError(
            f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    out.print(f"listening on http://{host}:{port}/ — point an endpoint here; Ctrl-C to stop")
    _flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        httpd.server_close()


def _flush() -> None:
    out.file.flush()


def _listen_handler(secrets: Sequence[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"statushooks-listen/{__version__}"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_LISTEN_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = dict(self.headers.items())
            try:
                event = receiver.verify_and_parse(body, headers, secrets)
            except receiver.WebhookVerificationError as exc:
                out.print(f"[red]✗ rejected[/] {self.path}: {exc}")
                self._answer(401)
            except receiver.WebhookPayloadError as exc:
                challenge = _challenge_of(body)
                if challenge is not None:
                    out.print(f"[green]✓ verification challenge[/] {self.path}: echoed")
                    self._answer(200, json.dumps({"challenge": challenge}).encode())
                    _flush()
                    return
                _show(body, headers, title=f"[yellow]✓ verified, unknown event[/] ({exc})")
                self._answer(204)
            else:
                _show(body, headers, title=f"[green]✓ {type(event).__name__}[/]")
                self._answer(204)
            _flush()

        def do_OPTIONS(self) -> None:
            """The CloudEvents webhook handshake: any origin is granted, at any rate."""
            origin = self.headers.get(verification.ORIGIN_HEADER)
            if origin is None:
                self._answer(204)
                return
            out.print(f"[green]✓ handshake[/] {self.path}: granted to {origin}")
            _flush()
            self.send_response(200)
            self.send_header("WebHook-Allowed-Origin", origin)
            self.send_header("WebHook-Allowed-Rate", "*")
            self.send_header("Allow", "POST")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: every request is printed as an event instead."""

    return Handler


def _challenge_of(body: bytes) -> str | None:
    """The challenge of a (verified) verification request, else None."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("type") != verification.CHALLENGE_TYPE:
        return None
    challenge = payload.get("challenge")
    return challenge if isinstance(challenge, str) else None


def _show(body: bytes, headers: dict[str, str], *, title: str) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        payload = json.loads(body)
        kind, event_id = str(payload.get("type", "?")), str(payload.get("id", "?"))
        content: Any = JSON(body.decode())
    except (ValueError, AttributeError):
        kind, event_id, content = "?", lowered.get("webhook-id", "?"), body.decode(errors="replace")
    stamp = lowered.get("webhook-timestamp")
    when = datetime.fromtimestamp(int(stamp), UTC).isoformat() if stamp and stamp.isdigit() else ""
    out.print(Panel(content, title=f"{title} {kind}", subtitle=f"{event_id} {when}".strip()))


# -- entry point ---------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> None:
    """The ``statushooks`` console script: errors are one line on stderr, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="statushooks",
            standalone_mode=False,
        )
    except typer.exceptions.TyperException as exc:
        hint = " (see statushooks --help)" if exc.exit_code == USAGE_ERROR else ""
        err.print(f"error: {_one_line(exc.format_message())}{hint}", markup=False)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(INTERRUPTED)
    except exceptions.StatushooksError as exc:
        err.print(f"error: {_one_line(exc.message)}", markup=False)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: still no traceback
        err.print(f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))}", markup=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
