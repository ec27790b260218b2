"""``python -m bench.bareapi --port P [--workers N]``: the limit of the ``api`` scenario.

A bare FastAPI app with the two routes a messaging platform calls once per message, taking
statushooks' own request models (``SmsCreate``, ``StatusReportIn``) and answering a small JSON:
no authentication, no database. It runs under the same uvicorn + uvloop + httptools as
``statushooks serve``, without an access log.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from bench import common
from statushooks.api import schemas


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/sms", status_code=201)
    async def create_sms(body: schemas.SmsCreate) -> dict[str, Any]:
        return {"id": "msg_bare", "to": body.to, "status": "submitted"}

    @app.post("/v1/messages/{message_id}/status")
    async def create_status_report(message_id: str, body: schemas.StatusReportIn) -> dict[str, Any]:
        return {"id": message_id, "status": body.status, "changed": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bareapi")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bareapi:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        loop="uvloop" if common.has_module("uvloop") else "asyncio",
        http="httptools" if common.has_module("httptools") else "h11",
    )


if __name__ == "__main__":
    main()
