"""Tracked links in SMS text — pure: find URLs and replace each by a short redirect URL."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

CODE_BYTES = 6
MAX_USER_AGENT = 512  # characters of a click's User-Agent kept in its status history
URL_PATTERN = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


@dataclass(frozen=True, kw_only=True)
class TrackedLink:
    """A short code standing for the original URL of one message."""

    code: str
    url: str


def stored_user_agent(user_agent: str | None) -> str | None:
    """A click's ``User-Agent`` as it is kept: its first ``MAX_USER_AGENT`` characters."""
    return None if user_agent is None else user_agent[:MAX_USER_AGENT]


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def track_links(
    text: str, *, public_base_url: str, new_code: Callable[[], str] = new_code
) -> tuple[str, tuple[TrackedLink, ...]]:
    """Replace every URL in ``text`` by ``{public_base_url}/l/{code}``; return the links made."""
    made: list[TrackedLink] = []

    def replace(match: re.Match[str]) -> str:
        link = TrackedLink(code=new_code(), url=match.group(0))
        made.append(link)
        return f"{public_base_url}/l/{link.code}"

    return URL_PATTERN.sub(replace, text), tuple(made)
