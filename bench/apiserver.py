"""``python -m bench.apiserver --port P [--dispatcher]``: the API app under uvicorn.

Used where ``statushooks serve`` is not available (the CLI has not landed) and by ``backlog``
to run the API without a dispatcher, so the two processes' memory can be told apart. Settings
come from ``STATUSHOOKS_*`` like ``statushooks serve``; uvloop and httptools where installed.
"""

from __future__ import annotations

import argparse

import uvicorn

from bench import common
from statushooks import config
from statushooks.api.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.apiserver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dispatcher", action="store_true", help="deliver from this process too")
    args = parser.parse_args()
    app = create_app(config.load_settings(), run_dispatcher=args.dispatcher)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop" if common.has_module("uvloop") else "asyncio",
        http="httptools" if common.has_module("httptools") else "h11",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
