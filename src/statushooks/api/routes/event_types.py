"""The event catalog: every event type, with its JSON Schema and example."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from statushooks import exceptions
from statushooks.api import schemas
from statushooks.api.deps import authenticated_account
from statushooks.events import catalog
from statushooks.storage.transaction import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

router = APIRouter(
    prefix="/v1/event-types",
    tags=["event types"],
    dependencies=[Depends(authenticated_account)],
)


@router.get("", response_model=schemas.Page[schemas.EventTypeOut])
async def read_event_types(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    after: Annotated[str | None, Query(max_length=100, description="An event type name")] = None,
) -> schemas.Page[schemas.EventTypeOut]:
    """Every event type, in catalog order (the cursor is a type name)."""
    types = list(catalog.all_types())
    if after is not None:
        names = [event_type.name for event_type in types]
        types = types[names.index(after) + 1 :] if after in names else []
    page = types[:limit]
    next_cursor = page[-1].name if len(types) > limit else None
    return schemas.Page(data=[schemas.EventTypeOut.of(t) for t in page], next_cursor=next_cursor)


@router.get("/{name}", response_model=schemas.EventTypeOut)
async def read_event_type(name: str) -> schemas.EventTypeOut:
    """One event type."""
    try:
        return schemas.EventTypeOut.of(catalog.get(name))
    except exceptions.ValidationError:
        raise exceptions.NotFoundError(f"no event type {name}") from None
