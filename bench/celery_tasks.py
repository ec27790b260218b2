"""The baseline a Python team would otherwise write: one Celery task per webhook.

The task signs the payload (``statushooks.signing``, the same Standard Webhooks headers), POSTs it
with ``requests`` (a per-process ``Session``, so connections are reused) and lets Celery retry on
any ``requests`` error with ``autoretry_for`` and exponential backoff. Redis is the broker; no
result backend (nothing reads results). Run by ``bench.baseline`` as
``celery -A bench.celery_tasks worker``.
"""

from __future__ import annotations

import os
import time

import requests
from celery import Celery

from statushooks import signing

BROKER_URL = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
TIMEOUT = 15.0  # seconds, as the dispatcher's delivery timeout

app = Celery("bench", broker=BROKER_URL)
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
session = requests.Session()


@app.task(
    autoretry_for=(requests.RequestException,),
    retry_backoff=5,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
)
def post_webhook(url: str, event_id: str, payload: str, secret: str) -> int:
    body = payload.encode()
    headers = {"Content-Type": "application/json"}
    headers.update(
        signing.webhook_headers(
            msg_id=event_id, timestamp=int(time.time()), body=body, secrets=(secret,)
        )
    )
    response = session.post(url, data=body, headers=headers, timeout=TIMEOUT)
    response.raise_for_status()
    return response.status_code
