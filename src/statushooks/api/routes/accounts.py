"""Accounts and API keys: the admin token's routes."""

from __future__ import annotations

from fastapi import APIRouter, Response

from statushooks.api import schemas
from statushooks.api.deps import ADMIN_SCOPE, Admin, IdempotencyDep, ServiceDep

router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[Admin])


@router.post("/accounts", status_code=201, response_model=schemas.AccountCreated)
async def create_account(
    body: schemas.AccountCreate, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Create an account and its first API key (shown once)."""

    return await idem.run(
        ADMIN_SCOPE,
        lambda key: svc.create_account(body.name, idempotency=key),
        schemas.AccountCreated.of,
        status_code=201,
    )


@router.post(
    "/accounts/{account_id}/api-keys", status_code=201, response_model=schemas.ApiKeyCreated
)
async def create_api_key(account_id: str, svc: ServiceDep, idem: IdempotencyDep) -> Response:
    """Create another API key for the account (shown once)."""

    def present(created: tuple[str, str]) -> schemas.ApiKeyCreated:
        return schemas.api_key_created(account_id, *created)

    return await idem.run(
        ADMIN_SCOPE,
        lambda key: svc.create_api_key(account_id, idempotency=key),
        present,
        status_code=201,
    )


@router.get("/accounts/{account_id}", response_model=schemas.AccountOut)
async def read_account(account_id: str, svc: ServiceDep) -> schemas.AccountOut:
    """The account with its portal settings."""
    return schemas.AccountOut.of(await svc.get_account(account_id))


@router.patch("/accounts/{account_id}", response_model=schemas.AccountOut)
async def update_account(
    account_id: str, body: schemas.AccountUpdate, svc: ServiceDep
) -> schemas.AccountOut:
    """Rename the account or change its portal's brand and the origins that may embed it."""
    portal = None if body.portal is None else body.portal.model_dump(exclude_unset=True)
    updated = await svc.update_account(account_id, name=body.name, portal=portal)
    return schemas.AccountOut.of(updated)


@router.delete("/api-keys/{key_id}", status_code=204)
async def delete_api_key(key_id: str, svc: ServiceDep) -> Response:
    """Delete an API key: it stops authenticating at once."""
    await svc.delete_api_key(key_id)
    return Response(status_code=204)
