"""Events: every webhook payload emitted, as sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from statushooks.api import queries, schemas
from statushooks.api.deps import AccountId, Paging, StoreDep
from statushooks.events import catalog

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=schemas.Page[schemas.EventOut])
async def read_events(
    account_id: AccountId,
    store: StoreDep,
    paging: Paging,
    event_type: Annotated[
        str | None, Query(alias="type", max_length=100, description="Only this event type")
    ] = None,
    message_id: Annotated[
        str | None, Query(max_length=64, description="Only this message's events")
    ] = None,
) -> schemas.Page[schemas.EventOut]:
    """The account's events, newest first."""
    if event_type is not None:
        catalog.get(event_type)
    page = await queries.list_events(
        store,
        account_id,
        limit=paging.limit,
        after=paging.after,
        event_type=event_type,
        message_id=message_id,
    )
    return schemas.page_of(page, schemas.EventOut.of)


@router.get("/{event_id}", response_model=schemas.EventDetail)
async def read_event(event_id: str, account_id: AccountId, store: StoreDep) -> schemas.EventDetail:
    """One event: its payload as sent, and its deliveries."""
    event, deliveries = await queries.get_event(store, account_id, event_id)
    return schemas.EventDetail(
        **schemas.EventOut.of(event).model_dump(),
        deliveries=[schemas.DeliveryOut.model_validate(d) for d in deliveries],
    )
