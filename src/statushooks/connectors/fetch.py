"""The connectors' only I/O of their own: an HTTPS GET to an allow-listed Amazon SNS host (a
signing certificate, a subscription confirmation). Redirects are not followed, the answer is
capped, and the URL is checked again here, whoever asks."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from statushooks import exceptions
from statushooks.connectors import ses

TIMEOUT = 10.0  # seconds
MAX_BYTES = 64 * 1024
Fetcher = Callable[[str], Awaitable[bytes]]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


async def fetch_aws(url: str) -> bytes:
    """The body at an allow-listed SNS ``url`` (``ses.check_aws_url``), at most ``MAX_BYTES``.

    Raises:
        StatushooksError: AWS did not answer 200 (the callback answers 500: SNS retries).
    """
    ses.check_aws_url(url)

    def get() -> bytes:
        with _OPENER.open(url, timeout=TIMEOUT) as response:
            body: bytes = response.read(MAX_BYTES)
            return body

    try:
        return await asyncio.to_thread(get)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise exceptions.StatushooksError(f"fetching {url} failed: {exc}") from exc
