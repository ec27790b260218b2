"""The sinks webhooks are sent to.

* ``NginxSink``: nginx answering 204 (``bench/nginx.conf``), installed with apt-get if missing;
  arrivals are counted from its access log (one 4-byte line per request).
* ``AsgiSink``: a raw-ASGI app under uvicorn (``python -m bench.sink``), answering 204, that
  records the arrival time of every request with the event's message id (YCloud ``sms.id``)
  or its ``webhook-id``; paths under ``/slow`` answer after ``--delay`` seconds. It serves
  ``GET /_records`` (JSON ``[[unix time, path, id], ...]``) and ``GET /_count``.

Either one is the fast sink (``fast_sink()``): nginx where it can be had, else the ASGI one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from bench import common

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
NGINX_CONF = common.BENCH_DIR / "nginx.conf"
NGINX_CONF_PORT = 18204
LOG_LINE_BYTES = 4  # "204\n"


class Sink(Protocol):
    kind: str
    port: int
    proc: common.Proc | None

    def url(self, path: str = "/hook") -> str: ...

    def count(self) -> int: ...

    def stop(self) -> None: ...


def ensure_nginx() -> str | None:
    """The nginx binary, installed from Debian's packages if missing and possible."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found or os.environ.get("BENCH_NO_APT") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("nginx is missing: apt-get install -y nginx wrk", flush=True)
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx", "wrk"],
            check=False,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )


class NginxSink:
    """nginx as a non-daemon subprocess with its own prefix, pid and logs under a temp dir."""

    kind = "nginx"

    def __init__(self, binary: str, port: int, log_dir: Path) -> None:
        self.port = port
        self.prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        for sub in ("logs", "tmp"):
            (self.prefix / sub).mkdir()
        os.chmod(self.prefix, 0o755)
        conf = NGINX_CONF.read_text().replace(f":{NGINX_CONF_PORT} ", f":{port} ")
        (self.prefix / "nginx.conf").write_text(conf)
        self.access_log = self.prefix / "logs" / "access.log"
        args = [binary, "-p", str(self.prefix), "-c", "nginx.conf"]
        args += ["-g", "daemon off; pid nginx.pid;"]
        self.proc: common.Proc | None = common.Proc.start("nginx", args, log_dir=log_dir)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self) -> int:
        try:
            return self.access_log.stat().st_size // LOG_LINE_BYTES
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


class AsgiSink:
    """``python -m bench.sink`` under uvicorn: records arrivals; ``/slow…`` paths answer late."""

    kind = "asgi"

    def __init__(self, port: int, log_dir: Path, *, delay: float = 0.0) -> None:
        self.port = port
        args = [common.PYTHON, "-m", "bench.sink", "--port", str(port), "--delay", str(delay)]
        self.proc: common.Proc | None = common.Proc.start(f"sink-{port}", args, log_dir=log_dir)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path: str) -> bytes:
        import urllib.request

        with urllib.request.urlopen(self.url(path), timeout=60) as response:
            body: bytes = response.read()
            return body

    def count(self) -> int:
        return int(self._get("/_count"))

    def records(self) -> list[tuple[float, str, str]]:
        """Every arrival so far: ``(unix time, path, id)``."""
        return [tuple(row) for row in orjson.loads(self._get("/_records"))]  # type: ignore[misc]

    def reset(self) -> None:
        self._get("/_reset")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


async def fast_sink(log_dir: Path) -> Sink:
    """nginx on a free port if available, else the ASGI sink."""
    port = common.free_port()
    binary = ensure_nginx()
    sink: Sink
    if binary:
        sink = NginxSink(binary, port, log_dir)
    else:
        print("nginx is not available: using the uvicorn raw-ASGI sink", flush=True)
        sink = AsgiSink(port, log_dir)
    assert sink.proc is not None
    await common.wait_port(port, proc=sink.proc.popen)
    return sink


async def recording_sink(log_dir: Path, *, delay: float = 0.0) -> AsgiSink:
    port = common.free_port()
    sink = AsgiSink(port, log_dir, delay=delay)
    assert sink.proc is not None
    await common.wait_port(port, proc=sink.proc.popen)
    return sink


# -- the ASGI sink itself ------------------------------------------------------------------------


def _event_key(body: bytes, headers: list[tuple[bytes, bytes]]) -> str:
    """The message id of a YCloud SMS event, else the event id, else the ``webhook-id``."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        payload = orjson.loads(body)
        inner = payload.get("sms")
        if isinstance(inner, dict) and "id" in inner:
            return str(inner["id"])
        if "id" in payload:
            return str(payload["id"])
    for name, value in headers:
        if name == b"webhook-id":
            return value.decode()
    return ""


def make_app(delay: float) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    records: list[tuple[float, str, str]] = []

    async def respond(send: Send, status: int, body: bytes = b"") -> None:
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if scope["method"] == "GET":
            if path == "/_records":
                await respond(send, 200, orjson.dumps(records))
            elif path == "/_count":
                await respond(send, 200, str(len(records)).encode())
            elif path == "/_reset":
                records.clear()
                await respond(send, 204)
            else:
                await respond(send, 204)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        arrived = time.time()
        if delay and path.startswith("/slow"):
            await asyncio.sleep(delay)
        records.append((arrived, path, _event_key(b"".join(chunks), scope["headers"])))
        await respond(send, 204)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="the recording webhook sink")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds, for /slow… paths")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        make_app(args.delay),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop" if common.has_module("uvloop") else "asyncio",
        http="httptools" if common.has_module("httptools") else "h11",
        lifespan="on",
        backlog=4096,
        timeout_keep_alive=120,
    )


if __name__ == "__main__":
    main()
