"""Connectors: a provider's delivery receipts in. The API-key routes manage them; the callback
route (``/hooks/{connector_id}``) is the provider's, authenticated by its signature."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from statushooks import exceptions, service
from statushooks.api import queries, schemas
from statushooks.api.deps import (
    BASIC_CHALLENGE,
    AccountId,
    IdempotencyDep,
    Paging,
    ServiceDep,
    json_response,
)
from statushooks.api.errors import ApiProblem
from statushooks.connectors.records import Connector

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])
hooks = APIRouter(tags=["connectors"])


def _out(svc: ServiceDep, connector: Connector) -> schemas.ConnectorOut:
    return schemas.ConnectorOut.of(connector, svc.callback_url(connector.id))


@router.post("", status_code=201, response_model=schemas.ConnectorOut)
async def create_connector(
    body: schemas.ConnectorCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Create a connector; point the provider's callbacks at its ``callback_url``."""
    return await idem.run(
        account_id,
        lambda key: svc.create_connector(
            account_id,
            provider=body.provider,
            name=body.name,
            credentials=body.credentials,
            idempotency=key,
        ),
        lambda connector: _out(svc, connector),
        status_code=201,
    )


@router.get("", response_model=schemas.Page[schemas.ConnectorOut])
async def read_connectors(
    account_id: AccountId, svc: ServiceDep, paging: Paging
) -> schemas.Page[schemas.ConnectorOut]:
    """The account's connectors, newest first (never their credentials)."""
    page = await queries.list_connectors(
        svc.store, account_id, limit=paging.limit, after=paging.after
    )
    return schemas.page_of(page, lambda connector: _out(svc, connector))


@router.get("/{connector_id}", response_model=schemas.ConnectorOut)
async def read_connector(
    connector_id: str, account_id: AccountId, svc: ServiceDep
) -> schemas.ConnectorOut:
    """One connector (never its credentials)."""
    return _out(svc, await svc.get_connector(account_id, connector_id))


@router.patch("/{connector_id}", response_model=schemas.ConnectorOut)
async def update_connector(
    connector_id: str, body: schemas.ConnectorUpdate, account_id: AccountId, svc: ServiceDep
) -> schemas.ConnectorOut:
    """Rename a connector or replace its credentials."""
    updated = await svc.update_connector(
        account_id, connector_id, name=body.name, credentials=body.credentials
    )
    return _out(svc, updated)


@router.delete("/{connector_id}", status_code=204)
async def delete_connector(connector_id: str, account_id: AccountId, svc: ServiceDep) -> Response:
    """Delete a connector and the receipts it keeps unmatched; its callbacks then answer 404."""
    await svc.delete_connector(account_id, connector_id)
    return Response(status_code=204)


@router.get(
    "/{connector_id}/unmatched-receipts",
    response_model=schemas.Page[schemas.UnmatchedReceiptOut],
)
async def read_unmatched_receipts(
    connector_id: str, account_id: AccountId, svc: ServiceDep, paging: Paging
) -> schemas.Page[schemas.UnmatchedReceiptOut]:
    """Receipts for a provider id no message carries yet, newest first: each is applied when
    a message is recorded (or reported) with that id."""
    page = await svc.list_unmatched(
        account_id, connector_id=connector_id, limit=paging.limit, after=paging.after
    )
    return schemas.page_of(page, schemas.UnmatchedReceiptOut.of)


@hooks.post("/hooks/{connector_id}", response_model=schemas.CallbackResultOut)
async def receive_callback(connector_id: str, request: Request) -> Response:
    """A provider's callback (its delivery receipts): no API key, the provider's signature
    (or basic auth) against the connector's credentials authenticates it. A bad or missing
    one answers 403 or 401 and changes nothing."""
    return await _received(connector_id, request)


@hooks.get("/hooks/{connector_id}", response_model=schemas.CallbackResultOut)
async def receive_callback_get(connector_id: str, request: Request) -> Response:
    """A provider's callback sent as a GET, its fields in the query string (Vonage can)."""
    return await _received(connector_id, request)


async def _received(connector_id: str, request: Request) -> Response:
    """The callback handed to ``Service.receive_callback`` as it came (the service is taken
    from the app and the answer serialized here, as a status report's is: no dependency to
    resolve, no response model to validate)."""
    svc: service.Service = request.app.state.service
    try:
        result = await svc.receive_callback(
            connector_id,
            method=request.method,
            query=request.scope["query_string"].decode("utf-8", "replace"),
            headers=dict(request.headers),
            body=await request.body(),
        )
    except exceptions.SignatureMissingError as exc:
        raise ApiProblem(
            "unauthorized", exc.message, headers={"WWW-Authenticate": BASIC_CHALLENGE}
        ) from None
    return json_response(schemas.CallbackResultOut.model_validate(result), 200)
