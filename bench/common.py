"""Shared pieces of the harness: options, subprocesses with CPU/RSS sampling, databases, results."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE_INTERVAL = 0.2  # seconds between psutil samples
STOP_TIMEOUT = 15.0  # seconds a subprocess gets after SIGTERM before SIGKILL


@dataclass(frozen=True, kw_only=True)
class Options:
    """What the command line asked for."""

    quick: bool = False
    #: Deliveries queued for ``drain`` and ``baseline`` (the issue's N).
    n: int = 100_000
    #: Deliveries queued for ``backlog``.
    backlog_n: int = 1_000_000
    backlog_seconds: float = 60.0
    #: Deliveries queued for each ``endpoints`` drain.
    endpoints_n: int = 30_000
    e2e_rates: tuple[int, ...] = (500, 1_000, 2_000, 4_000)
    e2e_seconds: float = 30.0
    profile: bool = False
    #: drain: ``(database, worker processes)`` to run.
    drain_configs: tuple[tuple[str, int], ...] = (("sqlite", 1), ("postgres", 1), ("postgres", 2))
    #: api: seconds per measured phase, the load generator (auto: wrk where it can be had),
    #: and the ``(database, API processes)`` of statushooks to run.
    api_seconds: float = 10.0
    api_client: str = "auto"
    api_configs: tuple[tuple[str, int], ...] = (
        ("sqlite", 1),
        ("sqlite", 2),
        ("postgres", 1),
        ("postgres", 2),
    )

    @classmethod
    def quick_options(cls, profile: bool = False) -> Options:
        return cls(
            quick=True,
            n=10_000,
            backlog_n=100_000,
            backlog_seconds=15.0,
            endpoints_n=10_000,
            e2e_rates=(500, 1_000, 2_000, 4_000),
            e2e_seconds=5.0,
            api_seconds=3.0,
            profile=profile,
        )


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Wait until something listens on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def bench_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of statushooks subprocesses under the harness."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    env["STATUSHOOKS_ALLOW_PRIVATE_URLS"] = "1"
    env["STATUSHOOKS_ENVIRONMENT"] = "development"
    # A log line per delivery attempt costs ~14 µs of CPU (text, to a file; JSON ~19 µs): at
    # thousands of deliveries a second a service runs at WARNING, and so does the harness.
    env["STATUSHOOKS_LOG_LEVEL"] = "WARNING"
    env["PYTHONUNBUFFERED"] = "1"
    if database_url is not None:
        env["STATUSHOOKS_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@dataclass(kw_only=True)
class Proc:
    """A subprocess with its psutil twin: peak RSS and CPU seconds (children included)."""

    name: str
    popen: subprocess.Popen[bytes]
    ps: psutil.Process
    log_path: Path
    peak_rss: int = 0
    rss_samples: list[tuple[float, int]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_dir: Path,
        cwd: Path | None = None,
    ) -> Proc:
        log_path = log_dir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            list(args),
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or ROOT,
            start_new_session=True,
        )
        log.close()
        return cls(name=name, popen=popen, ps=psutil.Process(popen.pid), log_path=log_path)

    def _family(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return []

    def rss(self) -> int:
        total = 0
        for proc in self._family():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._family():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def sample(self) -> None:
        rss = self.rss()
        self.peak_rss = max(self.peak_rss, rss)
        self.rss_samples.append((time.monotonic(), rss))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (the graceful shutdown), then SIGKILL the process group after ``timeout``."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def every(interval: float, sample: Callable[[], object], name: str) -> AsyncIterator[None]:
    """Call ``sample()`` every ``interval`` seconds in the background while the block runs,
    and once more at its end."""

    async def loop() -> None:
        while True:
            sample()
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sample()


def sampling(
    procs: Sequence[Proc], interval: float = SAMPLE_INTERVAL
) -> contextlib.AbstractAsyncContextManager[None]:
    """Sample the RSS of ``procs`` in the background while the block runs."""

    def sample_all() -> None:
        for proc in procs:
            proc.sample()

    return every(interval, sample_all, "rss-sampler")


# -- databases -------------------------------------------------------------------------------


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory / name}.db"


async def fresh_postgres(name: str) -> str:
    """Drop and create database ``name`` on the bench PostgreSQL server; its URL."""
    import asyncpg

    admin = PG_ADMIN_URL
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


async def drop_postgres(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def postgres_available() -> bool:
    try:
        import asyncpg
    except ImportError:
        return False
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), 5)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def postgres_server(store: Any) -> psutil.Process | None:
    """The postmaster of the PostgreSQL database ``store`` talks to, if it runs on this machine
    (the parent of this session's backend); ``None`` for SQLite or a server elsewhere."""
    if not store.dialect.is_postgres:
        return None
    from sqlalchemy import text

    query = text("SELECT pg_backend_pid()")
    backend = await store.read(lambda tx: tx.conn.execute(query).scalar_one())
    try:
        return psutil.Process(backend).parent()
    except psutil.Error:
        return None


def server_cpu_seconds(postmaster: psutil.Process | None) -> float:
    """CPU seconds used so far by a local PostgreSQL: the postmaster's own, its live children's
    and its exited children's (added to the postmaster's once it has waited for them)."""
    if postmaster is None:
        return 0.0
    try:
        own = postmaster.cpu_times()
        children = postmaster.children()
    except psutil.Error:
        return 0.0
    total = own.user + own.system + own.children_user + own.children_system
    for child in children:
        with contextlib.suppress(psutil.Error):  # gone since the listing
            times = child.cpu_times()
            total += times.user + times.system
    return total


# -- results ---------------------------------------------------------------------------------


def write_result(scenario: str, data: Mapping[str, Any], options: Options) -> Path:
    """``bench/results/<scenario>.json`` (``<scenario>.quick.json`` for a --quick run)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / (f"{scenario}.quick.json" if options.quick else f"{scenario}.json")
    payload = {
        "scenario": scenario,
        "quick": options.quick,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(value) for value in row] for row in rows]
    widths = [
        max(len(headers[i]), *(len(row[i]) for row in cells)) if cells else len(headers[i])
        for i in range(len(headers))
    ]
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
            )
        )
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] == "-") and cell != "-"


def mb(nbytes: float) -> float:
    return round(nbytes / 2**20, 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100, nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
