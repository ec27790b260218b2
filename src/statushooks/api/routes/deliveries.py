"""Deliveries (one event to one endpoint) and their attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from statushooks.api import queries, schemas
from statushooks.api.deps import AccountId, IdempotencyDep, Paging, ServiceDep, StoreDep
from statushooks.deliveries import DeliveryState

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@router.get("", response_model=schemas.Page[schemas.DeliveryOut])
async def read_deliveries(
    account_id: AccountId,
    store: StoreDep,
    paging: Paging,
    endpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    state: DeliveryState | None = None,
) -> schemas.Page[schemas.DeliveryOut]:
    """The account's deliveries, newest first."""
    page = await queries.list_deliveries(
        store,
        account_id,
        limit=paging.limit,
        after=paging.after,
        endpoint_id=endpoint_id,
        event_id=event_id,
        state=state,
    )
    return schemas.page_of(page, schemas.DeliveryOut.model_validate)


@router.get("/{delivery_id}", response_model=schemas.DeliveryOut)
async def read_delivery(
    delivery_id: str, account_id: AccountId, store: StoreDep
) -> schemas.DeliveryOut:
    """One delivery."""
    return schemas.DeliveryOut.model_validate(
        await queries.get_delivery(store, account_id, delivery_id)
    )


@router.get("/{delivery_id}/attempts", response_model=schemas.Page[schemas.AttemptOut])
async def read_delivery_attempts(
    delivery_id: str, account_id: AccountId, store: StoreDep, paging: Paging
) -> schemas.Page[schemas.AttemptOut]:
    """The delivery's HTTP attempts, newest first."""
    page = await queries.list_attempts(
        store, account_id, delivery_id, limit=paging.limit, after=paging.after
    )
    return schemas.page_of(page, schemas.AttemptOut.model_validate)


@router.post("/{delivery_id}/retry", status_code=202, response_model=schemas.DeliveryOut)
async def retry_delivery(
    delivery_id: str, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Queue a finished delivery for a fresh attempt now."""

    return await idem.run(
        account_id,
        lambda key: svc.retry_delivery(account_id, delivery_id, idempotency=key),
        schemas.DeliveryOut.model_validate,
        status_code=202,
    )
