"""Endpoints: where the account's events are delivered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from statushooks import durations, exceptions, service
from statushooks.api import queries, schemas
from statushooks.api.deps import (
    AccountId,
    IdempotencyDep,
    Paging,
    ServiceDep,
    StoreDep,
    json_response,
)
from statushooks.endpoints import EndpointState

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])
DEFAULT_STATS_WINDOW = "24h"
MAX_STATS_WINDOW = 366 * 86400.0  # seconds
#: A whole number of seconds, minutes, hours or days, never over ``MAX_STATS_WINDOW``.
STATS_WINDOW_PATTERN = (
    r"^(?:[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h"
    r"|(?:[1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$"
)


@router.post("", status_code=201, response_model=schemas.EndpointWithSecret)
async def create_endpoint(
    body: schemas.EndpointCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Create an endpoint; the answer carries its signing secret. An endpoint with a
    ``verification`` is created ``pending`` and verified at once: the answer shows the outcome
    (``active``, or ``pending`` with ``verification_error``)."""

    spec = body.spec()
    response = await idem.run(
        account_id,
        lambda key: svc.create_endpoint(account_id, spec, idempotency=key),
        schemas.EndpointWithSecret.of,
        status_code=201,
    )
    created = json.loads(bytes(response.body))
    if created["status"] != EndpointState.PENDING or "Idempotent-Replayed" in response.headers:
        return response
    verified = await svc.verify_endpoint(account_id, created["id"])
    return json_response(schemas.EndpointWithSecret.of(verified), 201)


@router.get("", response_model=schemas.Page[schemas.EndpointOut])
async def read_endpoints(
    account_id: AccountId, store: StoreDep, paging: Paging
) -> schemas.Page[schemas.EndpointOut]:
    """The account's endpoints, newest first."""
    page = await queries.list_endpoints(store, account_id, limit=paging.limit, after=paging.after)
    return schemas.page_of(page, schemas.EndpointOut.of)


@router.get("/{endpoint_id}", response_model=schemas.EndpointOut)
async def read_endpoint(
    endpoint_id: str, account_id: AccountId, svc: ServiceDep
) -> schemas.EndpointOut:
    """One endpoint (without its secret: see ``/secret``)."""
    return schemas.EndpointOut.of(await svc.get_endpoint(account_id, endpoint_id))


@router.patch("/{endpoint_id}", response_model=schemas.EndpointOut)
async def update_endpoint(
    endpoint_id: str, body: schemas.EndpointUpdate, account_id: AccountId, svc: ServiceDep
) -> schemas.EndpointOut:
    """Change the given fields; ``status: active`` resumes a paused or disabled endpoint. An
    endpoint left ``pending`` (a new URL or verification mode, or not verified yet) is verified
    at once."""
    updated = await svc.update_endpoint(account_id, endpoint_id, body.changes())
    if updated.state is EndpointState.PENDING:
        updated = await svc.verify_endpoint(account_id, endpoint_id)
    return schemas.EndpointOut.of(updated)


@router.post("/{endpoint_id}/verify", response_model=schemas.EndpointOut)
async def verify_endpoint(
    endpoint_id: str, account_id: AccountId, svc: ServiceDep
) -> schemas.EndpointOut:
    """Run the endpoint's verification again: granted, it is ``active``; refused, ``pending``
    with ``verification_error`` (it then receives nothing)."""
    return schemas.EndpointOut.of(await svc.verify_endpoint(account_id, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, account_id: AccountId, svc: ServiceDep) -> Response:
    """Delete an endpoint with its deliveries and their attempts."""
    await svc.delete_endpoint(account_id, endpoint_id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/secret", response_model=schemas.SecretOut)
async def read_endpoint_secret(
    endpoint_id: str, account_id: AccountId, svc: ServiceDep
) -> schemas.SecretOut:
    """The current signing secret, and older ones still signing after a rotation."""
    return schemas.secret_out(await svc.get_endpoint(account_id, endpoint_id))


@router.post("/{endpoint_id}/rotate-secret", response_model=schemas.SecretOut)
async def rotate_endpoint_secret(
    endpoint_id: str, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """A new secret signs from now on; the old one keeps signing alongside for 24 h."""

    return await idem.run(
        account_id,
        lambda key: svc.rotate_secret(account_id, endpoint_id, idempotency=key),
        schemas.secret_out,
        status_code=200,
    )


@router.get("/{endpoint_id}/stats", response_model=schemas.EndpointStatsOut)
async def read_endpoint_stats(
    endpoint_id: str,
    account_id: AccountId,
    store: StoreDep,
    window: Annotated[
        str,
        Query(
            max_length=16,
            pattern=STATS_WINDOW_PATTERN,
            description="How far back to count attempts, e.g. 30m, 1h, 7d: a whole number of "
            "s (up to 7 digits), m (5), h (3) or d (up to 366)",
        ),
    ] = DEFAULT_STATS_WINDOW,
) -> schemas.EndpointStatsOut:
    """Success rate and p50/p95 latency of the attempts in the window, and the backlog."""
    try:
        seconds = durations.parse_duration(window)
    except exceptions.ConfigurationError as exc:
        raise _bad_window(exc.message) from None
    if seconds > MAX_STATS_WINDOW:
        raise _bad_window(f"at most {durations.format_duration(MAX_STATS_WINDOW)}")
    since = service.utcnow() - timedelta(seconds=seconds)
    stats = await queries.endpoint_stats(store, account_id, endpoint_id, since=since)
    return schemas.EndpointStatsOut.of(stats)


@router.post("/{endpoint_id}/test", status_code=202, response_model=schemas.DeliveryOut)
async def create_endpoint_test(
    endpoint_id: str,
    body: schemas.EndpointTest,
    account_id: AccountId,
    svc: ServiceDep,
    idem: IdempotencyDep,
) -> Response:
    """Send the event type's example payload, signed, through the normal pipeline."""

    return await idem.run(
        account_id,
        lambda key: svc.send_test(account_id, endpoint_id, body.event_type, idempotency=key),
        schemas.DeliveryOut.model_validate,
        status_code=202,
    )


@router.post("/{endpoint_id}/recover", status_code=202, response_model=schemas.Recovered)
async def recover_endpoint(
    endpoint_id: str,
    body: schemas.Recover,
    account_id: AccountId,
    svc: ServiceDep,
    idem: IdempotencyDep,
) -> Response:
    """Queue again every failed delivery of the endpoint created in ``[since, until)``."""

    def present(count: int) -> schemas.Recovered:
        return schemas.Recovered(endpoint_id=endpoint_id, requeued=count)

    return await idem.run(
        account_id,
        lambda key: svc.recover(
            account_id, endpoint_id, since=body.since, until=body.until, idempotency=key
        ),
        present,
        status_code=202,
    )


def _bad_window(message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        f"window: {message}", errors=[{"field": "query.window", "message": message}]
    )
