"""The ``statushooks`` command line (typer + rich).

Commands that run statushooks itself (``serve``, ``worker``, ``migrate``, ``accounts create``)
work on the database directly: settings come from ``STATUSHOOKS_*`` with flags for the common
ones. Commands that manage an account's objects (``endpoints …``, ``messages …``, ``events …``,
``deliveries …``, ``recover``) talk to a running API over HTTP with ``--api-url``/``--api-key``
(or ``STATUSHOOKS_API_URL``/``STATUSHOOKS_API_KEY``), so they work against a remote deployment
and go through the same checks as any client.

Every error is one line on stderr and a non-zero exit status: 1 for a failure, 2 for bad usage
(then pointing at the subcommand's ``--help``).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from statushooks import __version__, config, durations, exceptions, logs, receiver, verification

if TYPE_CHECKING:
    import uvicorn

    from statushooks import service
    from statushooks.storage.sql import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_LISTEN_PORT = 9000
DEFAULT_API_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
API_TIMEOUT = 30.0  # seconds per API request
WAIT_TIMEOUT = 300.0  # seconds ``recover`` and ``endpoints test`` wait for deliveries
POLL_INTERVAL = 0.5  # seconds between two looks at a delivery or backlog
MAX_LISTEN_BODY = 1024 * 1024  # bytes ``listen`` accepts per request
DEFAULT_PAGE = 20  # rows a list command shows unless given --limit
USAGE_ERROR = 2  # exit status of a bad command line
INTERRUPTED = 130  # exit status after Ctrl-C
STARTUP_POLL = 0.02  # seconds between two looks at whether uvicorn listens yet

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
messages_app = typer.Typer(
    help="Look at messages through the API.", no_args_is_help=True, rich_markup_mode=None
)
events_app = typer.Typer(
    help="Look at events (the payloads sent) through the API.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
deliveries_app = typer.Typer(
    help="Look at and retry deliveries (one event to one endpoint) through the API.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(messages_app, name="messages")
app.add_typer(events_app, name="events")
app.add_typer(deliveries_app, name="deliveries")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"statushooks {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Delivery-status webhooks for SMS, email and voice: signed, retried, ordered."""


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


def _check_api_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"expected an http(s) URL such as {DEFAULT_API_URL}, not {value!r}"
        )
    return value


def _check_log_format(value: str) -> str:
    try:
        return logs.parse_format(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


ApiUrl = Annotated[
    str,
    typer.Option(
        envvar="STATUSHOOKS_API_URL",
        callback=_check_api_url,
        help="The statushooks API to talk to (env STATUSHOOKS_API_URL).",
    ),
]
ApiKey = Annotated[
    str,
    typer.Option(
        envvar="STATUSHOOKS_API_KEY",
        help="Your account's API key, sk_… (env STATUSHOOKS_API_KEY).",
        show_default=False,
    ),
]
LogFormat = Annotated[
    str,
    typer.Option(
        envvar=logs.ENV_VAR,
        callback=_check_log_format,
        help="Log lines as text or json, one object a line (env STATUSHOOKS_LOG_FORMAT).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Limit = Annotated[int, typer.Option(min=1, max=250, help="How many to show, newest first.")]
After = Annotated[
    str | None,
    typer.Option(
        help="Show the page after this cursor (printed below a full page).", show_default=False
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


def display_url(url: str) -> str:
    """Which database ``url`` is, fit for messages: a SQLite file's absolute path, or the URL
    with its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from statushooks.storage import engine as engines

    try:
        path = engines.sqlite_file(url)
        if path is not None:
            return f"SQLite file {os.path.abspath(path)}"
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


async def open_store(url: str) -> Store:
    """The store at ``url``, migrated.

    Raises:
        StorageError: it cannot be opened or migrated, in one line that names the database.
    """
    from statushooks.storage.sql import Store

    reason = _sqlite_refusal(url)
    if reason is None:
        try:
            return await Store.open(url)
        except exceptions.StatushooksError as exc:
            reason = exc.message
        except Exception as exc:  # noqa: BLE001 - a driver's own error: a reason, no traceback
            reason = str(exc)
    raise exceptions.StorageError(f"cannot open the database {display_url(url)}: {_tidy(reason)}")


async def check_database(settings: config.Settings) -> None:
    """Open (and migrate) the database, then close it: ``open_store``'s one line if it cannot."""
    await (await open_store(settings.database_url)).close()


def _sqlite_refusal(url: str) -> str | None:
    """Why a SQLite file at ``url`` cannot be created, found before opening it (its backend's
    threads would each report it), or None."""
    from statushooks.storage import engine as engines

    path = engines.sqlite_file(engines.normalize_url(url))
    if path is None or os.path.exists(path):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the directory {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the directory {folder} is not writable"
    return None


def _tidy(reason: str) -> str:
    """A driver's error message without SQLAlchemy's wrapping: its first line, no links."""
    reason = reason.split("\n", 1)[0].removeprefix("database error: ")
    reason = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", reason)
    return re.sub(r"^\((?:[\w.]+)\)\s*", "", reason)


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
            help="API processes serving the port [env STATUSHOOKS_WORKERS; default "
            f"{config.DEFAULT_WORKERS}: on 2 cores with SQLite, 2 answered no faster than 1]. "
            "Above 1, this process starts, restarts and stops them and answers no request "
            "itself. SQLite in memory: always 1.",
            show_default=False,
        ),
    ] = None,
    log_format: LogFormat = "text",
) -> None:
    """Run the API and the dispatcher (migrates the database first)."""
    from statushooks import supervisor

    logs.configure(logs.parse_format(log_format))
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
    sock = _listen(host, port, supervisor.listen)
    try:
        if count == 1:
            _serve_here(settings, sock, dispatcher=dispatcher, apart=dispatcher_process)
        else:
            _serve_apart(settings, sock, count, dispatcher=dispatcher, apart=dispatcher_process)
    finally:
        sock.close()


def _listen(host: str, port: int, listen: Callable[[str, int], Any]) -> Any:
    """The listening socket of ``serve``, bound before anything starts: a port in use is one
    line that says what to do."""
    try:
        return listen(host, port)
    except exceptions.StatushooksError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise exceptions.StatushooksError(
                f"cannot listen on {host}:{port}: the address is in use (is statushooks "
                "already running there, e.g. `make run`? stop it or pass --port)"
            ) from None
        raise


def _banner(settings: config.Settings, sock: Any, processes: int = 1) -> str:
    host, port = sock.getsockname()[:2]
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    extra = f", {processes} API processes" if processes > 1 else ""
    return (
        f"statushooks {__version__} listening on {where} (docs at /docs){extra}; "
        f"database {display_url(settings.database_url)}"
    )


def _announce(banner: str) -> None:
    """The start-up banner: a line of its own, or a log record among JSON log lines."""
    if os.environ.get(logs.ENV_VAR) == "json":
        logging.getLogger(__name__).info("%s", banner)
    else:
        err.print(banner, markup=False)


def _serve_here(settings: config.Settings, sock: Any, *, dispatcher: bool, apart: bool) -> None:
    """``serve`` with one API process: this one. The database is opened (and migrated) once
    before uvicorn starts, so a database that cannot be opened is one line; the app then opens
    its own in its lifespan (and closes it there, before uvicorn re-raises a stopping signal).
    The banner is printed once uvicorn accepts connections."""
    import uvicorn

    from statushooks.api import create_app

    run(check_database(settings))
    asgi = create_app(settings, run_dispatcher=dispatcher, dispatcher_process=apart)
    server = uvicorn.Server(uvicorn.Config(asgi, log_config=None, log_level="info"))
    run(_serve_announced(server, sock, _banner(settings, sock)))


async def _serve_announced(server: uvicorn.Server, sock: Any, banner: str) -> None:
    """Run ``server`` on ``sock``; print ``banner`` once it has started."""
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.wait({task}, timeout=STARTUP_POLL)
    if server.started:
        _announce(banner)
    await task
    if not server.started:
        raise exceptions.StatushooksError("the API did not start: see the log lines above")


def _serve_apart(
    settings: config.Settings, sock: Any, count: int, *, dispatcher: bool, apart: bool
) -> None:
    """``serve`` with ``count`` API processes, started, restarted and stopped by this one."""
    from statushooks import supervisor

    run(check_database(settings))  # one line if it cannot be opened, before any process starts
    _announce(_banner(settings, sock, count))
    stopped_by = run(
        supervisor.run_service(
            settings, sock, workers=count, dispatch=dispatcher, dispatcher_process=apart
        )
    )
    # End as one API process does (uvicorn): by the signal that stopped the service, so a
    # SIGTERM reads as one to whoever waits for it, and a Ctrl-C exits with 130.
    sock.close()
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
    log_format: LogFormat = "text",
) -> None:
    """Run a dispatcher only: delivers queued webhooks until SIGTERM or Ctrl-C."""
    from statushooks import worker as workers

    logs.configure(logs.parse_format(log_format))
    settings = load(
        db=db,
        public_base_url=public_base_url,
        retry_schedule=retry_schedule,
        allow_private_urls=allow_private_urls,
        delivery_timeout=delivery_timeout,
    )

    run(check_database(settings))
    _announce(f"statushooks worker started on {display_url(settings.database_url)}; Ctrl-C to stop")
    run(workers.run_worker(settings))


@app.command()
def migrate(db: Db = None, log_format: LogFormat = "text") -> None:
    """Bring the database schema up to date (serve and worker also do this on start)."""
    logs.configure(logs.parse_format(log_format))
    settings = load(db=db)

    run(check_database(settings))
    out.print(f"database schema is up to date: {display_url(settings.database_url)}")


@app.command()
def prune(
    db: Db = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Delete what is older than this, e.g. 30d [env STATUSHOOKS_RETENTION; "
            "default 30d].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete finished deliveries, attempts, events and messages older than the retention
    period, and expired idempotency keys, in small batches (the dispatcher does it too)."""
    from statushooks import retention
    from statushooks.storage.sql import Store

    settings = load(db=db)
    if older_than is not None:
        settings = config.load_settings(**{**settings.model_dump(), "retention": older_than})
    period = timedelta(seconds=settings.retention_seconds)

    async def run_prune() -> retention.Pruned:
        store = await Store.open(settings.database_url)
        try:
            return await retention.prune(store, older_than=period, now=datetime.now(UTC))
        finally:
            await store.close()

    pruned: retention.Pruned = run(run_prune())
    out.print(
        f"pruned (older than {settings.retention}): {pruned.attempts} attempts, "
        f"{pruned.deliveries} deliveries, {pruned.events} events, {pruned.messages} messages, "
        f"{pruned.idempotency_keys} idempotency keys",
        markup=False,
    )


# -- accounts ------------------------------------------------------------------------------


@accounts_app.command("create")
def create_account(
    name: Annotated[str, typer.Argument(help="A name for the account.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Create an account and print its API key (shown only once)."""
    from statushooks import service, sms

    if not name.strip() or len(name) > 200:
        raise exceptions.ValidationError("the account name must have 1 to 200 characters")
    settings = load(db=db)

    async def create() -> service.NewAccount:
        store = await open_store(settings.database_url)
        try:
            svc = service.Service(
                store=store, settings=settings, pricing=sms.PricingTable.load(settings.pricing_file)
            )
            return await svc.create_account(name)
        finally:
            await store.close()

    new = run(create())
    where = display_url(settings.database_url)
    if as_json:
        body = {
            "id": new.account.id,
            "name": new.account.name,
            "api_key": new.api_key,
            "database": where,
        }
        out.print_json(data=body)
        return
    out.print(f"account   {new.account.id}  ({new.account.name})")
    out.print(f"API key   {new.api_key}")
    out.print(f"database  {where}", markup=False)
    err.print(
        "Keep the API key now: it is shown only once. It works against a service on this "
        "database (serve --db / STATUSHOOKS_DATABASE_URL).",
        markup=False,
    )


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
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise exceptions.StatushooksError(
                f"cannot reach the API at {self.url}: {reason} (is `statushooks serve` running "
                "there? set --api-url or STATUSHOOKS_API_URL)"
            ) from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise exceptions.StatushooksError(
                f"{method} {path}: the answer is not JSON: is {self.url} a statushooks API?"
            ) from None

    def page(self, path: str, limit: int, after: str | None, **filters: str | None) -> Any:
        """One page of a list route: ``{"data": […], "next_cursor": …}``."""
        query = {"limit": str(limit), "after": after, **filters}
        given = {name: value for name, value in query.items() if value is not None}
        return self.request("GET", f"{path}?{urllib.parse.urlencode(given)}")


def _id(value: str) -> str:
    """An object id as one path segment."""
    return urllib.parse.quote(value, safe="")


def _problem_line(method: str, path: str, exc: urllib.error.HTTPError) -> str:
    """The API's problem+json answer as one line: the field errors if any, else the detail."""
    try:
        problem = json.loads(exc.read())
        detail = str(problem.get("detail") or problem.get("title"))
        fields = "; ".join(
            f"{e['field']}: {str(e['message']).removeprefix('Value error, ')}"
            for e in problem.get("errors", [])
        )
    except (ValueError, AttributeError, KeyError, TypeError):
        detail, fields = str(exc.reason), ""
    line = f"{method} {path.split('?', 1)[0]} answered {exc.code}: {fields or detail}"
    if exc.code == 401:
        line += (
            " (check --api-key or STATUSHOOKS_API_KEY: a key works only against the "
            "database `accounts create` made it in)"
        )
    return line


def _show_table(
    rows: list[dict[str, Any]], columns: Sequence[tuple[str, Callable[..., Any]]]
) -> None:
    table = Table()
    for name, _ in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value(row)) for _, value in columns))
    out.print(table)


def _show_fields(obj: dict[str, Any], names: Sequence[str]) -> None:
    width = max(len(name) for name in names)
    for name in names:
        if name in obj:
            out.print(f"{name.ljust(width)}  {_cell(obj[name])}", markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value) if value else "—"
    return str(value)


def _show_page(
    page: dict[str, Any], columns: Sequence[tuple[str, Callable[..., Any]]], as_json: bool
) -> None:
    if as_json:
        out.print_json(data=page)
        return
    _show_table(page["data"], columns)
    if page["next_cursor"] is not None:
        err.print(f"more: --after {page['next_cursor']}", markup=False)


def _short(text: str | None, width: int = 40) -> str | None:
    return text if text is None or len(text) <= width else text[: width - 1] + "…"


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


# -- endpoints -----------------------------------------------------------------------------


@endpoints_app.command("list")
def list_endpoints(
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: AsJson = False,
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
    signature: Annotated[
        list[str] | None,
        typer.Option(
            "--signature",
            help="A signature version to send: v1 (HMAC, the default) or v1a (Ed25519); "
            "repeat for both.",
        ),
    ] = None,
    verification: Annotated[
        str,
        typer.Option(
            help="Verify it before it receives anything: none, cloudevents (the CloudEvents "
            "webhook handshake) or challenge (echo a signed challenge)."
        ),
    ] = "none",
    as_json: AsJson = False,
) -> None:
    """Create an endpoint and print its signing secret (v1) or public key (v1a)."""
    body: dict[str, Any] = {
        "url": url,
        "description": description,
        "enabled_events": event or [],
        "statuses": status or [],
        "verification": verification,
    }
    if signature:
        body["signature_versions"] = signature
    endpoint = ApiClient(api_url, api_key).request("POST", "/v1/endpoints", body)
    if as_json:
        out.print_json(data=endpoint)
        return
    out.print(f"endpoint  {endpoint['id']}  → {endpoint['url']}")
    if endpoint.get("secret"):
        out.print(f"secret    {endpoint['secret']}")
    if endpoint.get("public_key"):
        out.print(f"public key {endpoint['public_key']}")
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
    delivery = client.request("POST", f"/v1/endpoints/{_id(endpoint_id)}/test", body)
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


ENDPOINT_FIELDS = (
    "id",
    "url",
    "status",
    "disabled_reason",
    "description",
    "enabled_events",
    "statuses",
    "max_in_flight",
    "rate_limit",
    "ordered",
    "metadata",
    "failing_since",
    "created_at",
    "updated_at",
)
EndpointId = Annotated[str, typer.Argument(metavar="ENDPOINT", help="The endpoint id (ep_…).")]


def _show_endpoint(endpoint: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data=endpoint)
    else:
        _show_fields(endpoint, ENDPOINT_FIELDS)


@endpoints_app.command("get")
def get_endpoint(
    endpoint_id: EndpointId,
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: AsJson = False,
) -> None:
    """Show one endpoint."""
    endpoint = ApiClient(api_url, api_key).request("GET", f"/v1/endpoints/{_id(endpoint_id)}")
    _show_endpoint(endpoint, as_json)


@endpoints_app.command("update")
def update_endpoint(
    endpoint_id: EndpointId,
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    url: Annotated[str | None, typer.Option(help="Where to POST the webhooks.")] = None,
    description: Annotated[str | None, typer.Option(help="A note for humans.")] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="Subscribe to exactly these event types (repeat)."),
    ] = None,
    all_events: Annotated[
        bool, typer.Option("--all-events", help="Subscribe to every event type.")
    ] = False,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Only events of these message statuses (repeat)."),
    ] = None,
    all_statuses: Annotated[
        bool, typer.Option("--all-statuses", help="Events of every message status.")
    ] = False,
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Requests open at once at most.")
    ] = None,
    rate_limit: Annotated[
        float | None, typer.Option(min=0.0, help="Requests per second at most; 0 for no limit.")
    ] = None,
    ordered: Annotated[
        bool | None,
        typer.Option("--ordered/--unordered", help="Send each message's events in order."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Change an endpoint: only the options given change."""
    if event and all_events:
        raise typer.BadParameter("give --event or --all-events, not both", param_hint="--event")
    if status and all_statuses:
        raise typer.BadParameter("give --status or --all-statuses, not both", param_hint="--status")
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("url", url),
            ("description", description),
            ("max_in_flight", max_in_flight),
            ("ordered", ordered),
        )
        if value is not None
    }
    if event or all_events:
        changes["enabled_events"] = event or []
    if status or all_statuses:
        changes["statuses"] = status or []
    if rate_limit is not None:
        changes["rate_limit"] = rate_limit or None
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give at least one option", param_hint="ENDPOINT"
        )
    endpoint = ApiClient(api_url, api_key).request(
        "PATCH", f"/v1/endpoints/{_id(endpoint_id)}", changes
    )
    _show_endpoint(endpoint, as_json)


def _set_endpoint_state(api_url: str, api_key: str, endpoint_id: str, state: str) -> dict[str, Any]:
    endpoint: dict[str, Any] = ApiClient(api_url, api_key).request(
        "PATCH", f"/v1/endpoints/{_id(endpoint_id)}", {"status": state}
    )
    return endpoint


@endpoints_app.command("pause")
def pause_endpoint(
    endpoint_id: EndpointId, api_key: ApiKey, api_url: ApiUrl = DEFAULT_API_URL
) -> None:
    """Pause an endpoint: its new deliveries wait until it is resumed."""
    endpoint = _set_endpoint_state(api_url, api_key, endpoint_id, "paused")
    out.print(f"endpoint {endpoint['id']} is {endpoint['status']}", markup=False)


@endpoints_app.command("resume")
def resume_endpoint(
    endpoint_id: EndpointId, api_key: ApiKey, api_url: ApiUrl = DEFAULT_API_URL
) -> None:
    """Resume a paused or disabled endpoint: what waited is sent."""
    endpoint = _set_endpoint_state(api_url, api_key, endpoint_id, "active")
    out.print(f"endpoint {endpoint['id']} is {endpoint['status']}", markup=False)


@endpoints_app.command("delete")
def delete_endpoint(
    endpoint_id: EndpointId, api_key: ApiKey, api_url: ApiUrl = DEFAULT_API_URL
) -> None:
    """Delete an endpoint; its pending deliveries are not sent."""
    ApiClient(api_url, api_key).request("DELETE", f"/v1/endpoints/{_id(endpoint_id)}")
    out.print(f"endpoint {endpoint_id} deleted", markup=False)


@endpoints_app.command("rotate-secret")
def rotate_endpoint_secret(
    endpoint_id: EndpointId,
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: AsJson = False,
) -> None:
    """Give an endpoint a new signing secret; the old one keeps signing alongside for a while."""
    secret = ApiClient(api_url, api_key).request(
        "POST", f"/v1/endpoints/{_id(endpoint_id)}/rotate-secret", {}
    )
    if as_json:
        out.print_json(data=secret)
        return
    out.print(f"secret    {secret['secret']}", markup=False)
    for previous in secret["previous"]:
        shown = f"{previous['secret'][:12]}…"
        out.print(f"previous  {shown} signs until {_cell(previous['expires_at'])}", markup=False)


# -- messages ------------------------------------------------------------------------------

MessageId = Annotated[str, typer.Argument(metavar="MESSAGE", help="The message id (msg_…).")]
MESSAGE_COLUMNS = (
    ("id", _field("id")),
    ("channel", _field("channel")),
    ("status", _field("status")),
    ("to", _field("to")),
    ("created", _field("created_at")),
)


@messages_app.command("list")
def list_messages(
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    limit: Limit = DEFAULT_PAGE,
    after: After = None,
    as_json: AsJson = False,
) -> None:
    """List your messages, newest first."""
    page = ApiClient(api_url, api_key).page("/v1/messages", limit, after)
    _show_page(page, MESSAGE_COLUMNS, as_json)


@messages_app.command("get")
def get_message(
    message_id: MessageId,
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: AsJson = False,
) -> None:
    """Show one message, its status history and its events."""
    message = ApiClient(api_url, api_key).request("GET", f"/v1/messages/{_id(message_id)}")
    if as_json:
        out.print_json(data=message)
        return
    fields = [name for name, value in message.items() if not isinstance(value, list | dict)]
    _show_fields(message, fields)
    history = [
        ("status", _field("status")),
        ("occurred", _field("occurred_at")),
        ("error", _field("error_code")),
    ]
    if message.get("history"):
        _show_table(message["history"], history)
    if message.get("events"):
        _show_table(message["events"], [("event", _field("id")), ("type", _field("type"))])


# -- events --------------------------------------------------------------------------------

EventId = Annotated[str, typer.Argument(metavar="EVENT", help="The event id (evt_…).")]
EVENT_COLUMNS = (
    ("id", _field("id")),
    ("type", _field("type")),
    ("message", _field("message_id")),
    ("created", _field("created_at")),
)
DELIVERY_COLUMNS = (
    ("id", _field("id")),
    ("endpoint", _field("endpoint_id")),
    ("type", _field("event_type")),
    ("state", _field("state")),
    ("attempts", _field("attempts")),
    ("last answer", lambda row: row.get("last_response_status") or _short(row.get("last_error"))),
)


@events_app.command("list")
def list_events(
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only this event type.", show_default=False)
    ] = None,
    message: Annotated[
        str | None, typer.Option(help="Only this message's events.", show_default=False)
    ] = None,
    limit: Limit = DEFAULT_PAGE,
    after: After = None,
    as_json: AsJson = False,
) -> None:
    """List your events (the payloads sent), newest first."""
    page = ApiClient(api_url, api_key).page(
        "/v1/events", limit, after, type=event_type, message_id=message
    )
    _show_page(page, EVENT_COLUMNS, as_json)


@events_app.command("get")
def get_event(
    event_id: EventId, api_key: ApiKey, api_url: ApiUrl = DEFAULT_API_URL, as_json: AsJson = False
) -> None:
    """Show one event: its payload as sent, and its deliveries."""
    event = ApiClient(api_url, api_key).request("GET", f"/v1/events/{_id(event_id)}")
    if as_json:
        out.print_json(data=event)
        return
    _show_fields(
        event, [name for name in ("id", "type", "message_id", "created_at") if name in event]
    )
    out.print(Panel(JSON.from_data(event["payload"]), title="payload"))
    if event.get("deliveries"):
        _show_table(event["deliveries"], DELIVERY_COLUMNS)


# -- deliveries ----------------------------------------------------------------------------

DeliveryId = Annotated[str, typer.Argument(metavar="DELIVERY", help="The delivery id (dlv_…).")]
ATTEMPT_COLUMNS = (
    ("#", _field("number")),
    ("started", _field("started_at")),
    ("ms", lambda row: round(row["duration_ms"])),
    ("answer", lambda row: row.get("response_status") or row.get("error_kind")),
    ("error", _field("error_message")),
)


@deliveries_app.command("list")
def list_deliveries(
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    endpoint: Annotated[
        str | None, typer.Option(help="Only this endpoint's deliveries.", show_default=False)
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Only this event's deliveries.", show_default=False)
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only deliveries in this state (pending, succeeded, failed, …).",
            show_default=False,
        ),
    ] = None,
    limit: Limit = DEFAULT_PAGE,
    after: After = None,
    as_json: AsJson = False,
) -> None:
    """List your deliveries (one event to one endpoint), newest first."""
    page = ApiClient(api_url, api_key).page(
        "/v1/deliveries", limit, after, endpoint_id=endpoint, event_id=event, state=state
    )
    _show_page(page, DELIVERY_COLUMNS, as_json)


@deliveries_app.command("get")
def get_delivery(
    delivery_id: DeliveryId,
    api_key: ApiKey,
    api_url: ApiUrl = DEFAULT_API_URL,
    as_json: AsJson = False,
) -> None:
    """Show one delivery and its latest attempts."""
    client = ApiClient(api_url, api_key)
    delivery = client.request("GET", f"/v1/deliveries/{_id(delivery_id)}")
    attempts = client.page(f"/v1/deliveries/{_id(delivery_id)}/attempts", DEFAULT_PAGE, None)
    if as_json:
        out.print_json(data={**delivery, "attempts_made": attempts["data"]})
        return
    _show_fields(delivery, list(delivery))
    if attempts["data"]:
        _show_table(attempts["data"], ATTEMPT_COLUMNS)


@deliveries_app.command("retry")
def retry_delivery(
    delivery_id: DeliveryId, api_key: ApiKey, api_url: ApiUrl = DEFAULT_API_URL
) -> None:
    """Send a delivery again now (a failed one, or one waiting for its next attempt)."""
    delivery = ApiClient(api_url, api_key).request(
        "POST", f"/v1/deliveries/{_id(delivery_id)}/retry", {}
    )
    out.print(f"delivery {delivery['id']} queued again ({delivery['state']})", markup=False)


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
    result = client.request("POST", f"/v1/endpoints/{_id(endpoint_id)}/recover", body)
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
            stats = client.request("GET", f"/v1/endpoints/{_id(endpoint_id)}/stats")
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
            help="The endpoint's signing secret (whsec_…) or public key (whpk_…); repeat "
            "during a rotation. Better from the environment, where `ps` does not show it: "
            "STATUSHOOKS_LISTEN_SECRET (several separated by spaces).",
            show_default=False,
        ),
    ],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = (
        DEFAULT_LISTEN_PORT
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    show_headers: Annotated[
        bool, typer.Option("--show-headers", help="Also print each request's headers.")
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            file_okay=False,
            help="Also save each request, as received, to DIR/NNNN-<webhook-id>.http (an HTTP/1.1 "
            "request: replay it with `nc HOST PORT < FILE`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Receive webhooks locally: verify each signature and pretty-print the event. It also
    grants the CloudEvents webhook handshake and echoes a signed verification challenge, so a
    verified endpoint can point here."""
    if save is not None:
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise exceptions.StatushooksError(f"cannot create {save}: {exc.strerror}") from None
    handler = _listen_handler(tuple(secret), show_headers=show_headers, save=save)
    try:
        httpd = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise exceptions.StatushooksError(
            f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    out.print(f"listening on http://{host}:{port}/ — point an endpoint here; Ctrl-C to stop")
    if save is not None:
        out.print(f"saving each request to {save}/", markup=False)
    _flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        httpd.server_close()


def _flush() -> None:
    out.file.flush()


def _listen_handler(
    secrets: Sequence[str], *, show_headers: bool = False, save: Path | None = None
) -> type[BaseHTTPRequestHandler]:
    numbers = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        server_version = f"statushooks-listen/{__version__}"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_LISTEN_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = dict(self.headers.items())
            if save is not None:
                _save_request(save, next(numbers), self.requestline, headers, body)
            if show_headers:
                out.print(_headers_text(self.requestline, headers), markup=False)
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


def _headers_text(requestline: str, headers: dict[str, str]) -> str:
    return "\n".join([requestline, *(f"{name}: {value}" for name, value in headers.items())])


def _save_request(
    folder: Path, number: int, requestline: str, headers: dict[str, str], body: bytes
) -> Path:
    """Write the request as received (request line, headers, body) to a file of its own."""
    webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "request")
    path = folder / f"{number:04d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', webhook_id)[:80]}.http"
    head = _headers_text(requestline, headers).replace("\n", "\r\n")
    path.write_bytes(head.encode("latin-1", errors="replace") + b"\r\n\r\n" + body)
    return path


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


def _help_hint(exc: typer.exceptions.TyperException) -> str:
    """Where to read about a bad command line: the --help of the command that refused it."""
    if exc.exit_code != USAGE_ERROR:
        return ""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "statushooks"
    return f" (see {path} --help)"


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
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            out.print(ctx.get_help(), markup=False)  # a bare group: its help, not an error
            sys.exit(0)
        err.print(f"error: {_one_line(exc.format_message())}{_help_hint(exc)}", markup=False)
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
