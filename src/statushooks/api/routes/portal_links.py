"""Portal links: a signed, short-lived URL that opens an account's portal without a key."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from statushooks import service
from statushooks.api import schemas
from statushooks.api.deps import AccountId, ServiceDep
from statushooks.dashboard.sessions import Signer, secret_of

router = APIRouter(prefix="/v1", tags=["portal"])


@router.post("/portal-links", response_model=schemas.PortalLinkOut)
async def create_portal_link(
    account_id: AccountId, svc: ServiceDep, body: schemas.PortalLinkCreate | None = None
) -> schemas.PortalLinkOut:
    """A link to the account's portal (its endpoints, events and attempts), valid for
    ``expires_in`` seconds; embed it in an iframe of an origin the account lists."""
    expires_in = (body or schemas.PortalLinkCreate()).expires_in
    expires_at = (service.utcnow() + timedelta(seconds=expires_in)).replace(microsecond=0)
    token = Signer(secret_of(svc.settings)).portal_token(account_id, expires_at)
    return schemas.PortalLinkOut(
        url=f"{svc.settings.public_base_url}/portal/{token}/", expires_at=expires_at
    )
