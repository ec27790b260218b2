"""Tracked links: ``/l/{code}`` redirects to the original URL and records the click."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import RedirectResponse

from statushooks.api.deps import ServiceDep

router = APIRouter(tags=["links"])


@router.get("/l/{code}", status_code=302, response_class=RedirectResponse)
async def read_link(
    code: str,
    svc: ServiceDep,
    user_agent: Annotated[str | None, Header()] = None,
) -> RedirectResponse:
    """302 to the original URL; records a ``clicked`` event (with the user agent)."""
    url = await svc.record_click(code, user_agent=user_agent)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
