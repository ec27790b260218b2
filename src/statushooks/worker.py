"""The worker process: a dispatcher on its own, ``python -m statushooks.worker``.

It opens the store (migrating the schema), dispatches until SIGTERM or SIGINT, then shuts
down gracefully: in-flight attempts get ``STATUSHOOKS_SHUTDOWN_TIMEOUT`` seconds to finish,
the rest's leases are given back. Any number of workers may run against one PostgreSQL.

``python -m statushooks.worker --api-socket FD`` is one of ``serve --workers N``'s API
processes instead (``supervisor.ApiProcess``): it serves the API on the listening socket it
inherited as file descriptor FD, without migrating (its parent did), until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from statushooks import config, exceptions, logs, tracing
from statushooks.dispatcher import Dispatcher
from statushooks.storage.sql import Store
from statushooks.supervisor import API_SOCKET, STOP_WITH_PARENT

logger = logging.getLogger(__name__)

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GC_THRESHOLDS = (20_000, 20, 50)  # allocations, then gen-0 and gen-1 collections


async def run_worker(settings: config.Settings, *, stop_with_parent: bool = False) -> None:
    """Dispatch deliveries until SIGTERM/SIGINT, then stop gracefully; with
    ``stop_with_parent``, also once standard input closes (``serve``'s child: its parent
    holds the other end, so it closes when the parent exits, however it exits)."""
    store = await Store.open(settings.database_url)
    dispatcher = Dispatcher(store, settings)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, dispatcher.stop)
    if stop_with_parent:
        _stop_when_input_closes(loop, dispatcher.stop)
    try:
        await dispatcher.run()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        if stop_with_parent:
            loop.remove_reader(sys.stdin.fileno())
        await store.close()


async def run_api(
    settings: config.Settings, sock: socket.socket, *, stop_with_parent: bool = False
) -> None:
    """Serve the API on ``sock``, a listening socket other processes may serve too, until
    SIGTERM/SIGINT (uvicorn's graceful shutdown; then the process ends by that signal, as
    uvicorn does); with ``stop_with_parent``, also once standard input closes. The database is
    not migrated: ``serve`` did that before starting this process."""
    import uvicorn

    from statushooks.api import create_app

    app = create_app(settings, upgrade=False)
    grace = math.ceil(settings.shutdown_timeout)  # for the requests in hand, once stopped
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="info", timeout_graceful_shutdown=grace)
    )

    def stop() -> None:
        server.should_exit = True

    loop = asyncio.get_running_loop()
    if stop_with_parent:
        _stop_when_input_closes(loop, stop)
    try:
        await server.serve(sockets=[sock])
    finally:
        if stop_with_parent:
            loop.remove_reader(sys.stdin.fileno())


def _stop_when_input_closes(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            logger.warning("the parent process is gone: stopping")
            stop()

    loop.add_reader(fd, readable)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory where uvloop is installed, else None (the default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def tune_gc() -> None:
    """Collect garbage less often: a busy dispatcher allocates fast and spent ~10 % of its CPU
    in the collector at the default thresholds (py-spy, bench drain).

    What exists at start (modules, classes, the app) is frozen out of every collection, and
    the youngest generation is collected every ``GC_THRESHOLDS[0]`` allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop where present, garbage collection tuned: the process entry
    points use this. Traces are turned on here when ``OTEL_*`` asks for them (``tracing``)."""
    tracing.configure()
    tune_gc()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


def main() -> None:
    """``python -m statushooks.worker``: settings from ``STATUSHOOKS_*``."""
    parser = argparse.ArgumentParser(prog="python -m statushooks.worker")
    parser.add_argument(STOP_WITH_PARENT, action="store_true", help="stop once stdin closes")
    parser.add_argument(API_SOCKET, type=int, metavar="FD", help="serve the API on socket FD")
    args = parser.parse_args()
    logs.configure_from_environment()
    try:
        settings = config.load_settings()
        if args.api_socket is None:
            run(run_worker(settings, stop_with_parent=args.stop_with_parent))
        else:
            sock = socket.socket(fileno=args.api_socket)
            run(run_api(settings, sock, stop_with_parent=args.stop_with_parent))
    except exceptions.StatushooksError as exc:
        logger.error("%s", exc.message)
        logger.debug("details", exc_info=exc)
        sys.exit(1)
    except KeyboardInterrupt:  # SIGINT, re-raised by uvicorn once it has stopped
        sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
    main()
