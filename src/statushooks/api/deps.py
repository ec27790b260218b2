"""Dependencies of the routes: the service, who is calling, paging, idempotency."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from statushooks import ids, service
from statushooks.api.errors import ApiProblem
from statushooks.config import Settings
from statushooks.storage import idempotency
from statushooks.storage.idempotency import ClaimState
from statushooks.storage.sql import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Store

#: How long a request waits for a parallel one with the same Idempotency-Key to finish.
IDEMPOTENCY_WAIT = 30.0  # seconds
IDEMPOTENCY_POLL = 0.05  # seconds
ADMIN_SCOPE = "__admin__"
JSON_MEDIA_TYPE = "application/json"

bearer = HTTPBearer(auto_error=False, description="An account API key (sk_…) or the admin token")


def get_service(request: Request) -> service.Service:
    svc: service.Service = request.app.state.service
    return svc


def get_store(request: Request) -> Store:
    return get_service(request).store


def get_settings(request: Request) -> Settings:
    return get_service(request).settings


ServiceDep = Annotated[service.Service, Depends(get_service)]
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem("unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticated_account(svc: ServiceDep, credentials: Credentials) -> str:
    """The id of the account whose API key is in ``Authorization: Bearer``."""
    if credentials is None:
        raise _unauthorized("send your API key as 'Authorization: Bearer sk_…'")
    account_id = await svc.authenticate(credentials.credentials)
    if account_id is None:
        raise _unauthorized("the API key is unknown or was deleted")
    return account_id


async def require_admin(settings: SettingsDep, credentials: Credentials) -> None:
    """Only the admin token (``STATUSHOOKS_ADMIN_TOKEN``) passes."""
    if settings.admin_token is None:
        raise ApiProblem(
            "forbidden", "the admin API is off: set STATUSHOOKS_ADMIN_TOKEN to enable it"
        )
    if credentials is None:
        raise _unauthorized("send the admin token as 'Authorization: Bearer …'")
    if not hmac.compare_digest(credentials.credentials.encode(), settings.admin_token.encode()):
        raise _unauthorized("this route needs the admin token")


AccountId = Annotated[str, Depends(authenticated_account)]
Admin = Depends(require_admin)


@dataclass(frozen=True, kw_only=True)
class PageParams:
    limit: int
    after: str | None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (1–250)")
    ] = DEFAULT_PAGE_SIZE,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=ids.ID_PATTERN.pattern,
            description="The `next_cursor` of the previous page",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=after)


Paging = Annotated[PageParams, Depends(page_params)]


# -- idempotency ---------------------------------------------------------------------------


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and the JSON body, key order ignored."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def json_response(model: BaseModel, status_code: int) -> Response:
    body = model.model_dump_json(by_alias=True).encode()
    return Response(content=body, status_code=status_code, media_type=JSON_MEDIA_TYPE)


class Idempotency:
    """Runs a creating request at most once per ``Idempotency-Key`` (24 h, per account)."""

    def __init__(self, request: Request, store: Store, key: str | None) -> None:
        self.request = request
        self.store = store
        self.key = key

    async def run(
        self,
        scope: str,
        work: Callable[[], Awaitable[BaseModel]],
        *,
        status_code: int,
    ) -> Response:
        """``work()``'s answer, or the stored answer of the first request with this key."""
        if self.key is None:
            return json_response(await work(), status_code)
        body = await self.request.body()
        request_hash = fingerprint(self.request.method, self.request.url.path, body)
        replay = await self._claim(scope, self.key, request_hash)
        if replay is not None:
            return replay
        try:
            response = json_response(await work(), status_code)
        except BaseException:
            await asyncio.shield(idempotency.release(self.store, scope, self.key))
            raise
        await idempotency.complete(self.store, scope, self.key, status_code, bytes(response.body))
        return response

    async def _claim(self, scope: str, key: str, request_hash: str) -> Response | None:
        """None once this request owns the key; else the answer to give."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IDEMPOTENCY_WAIT
        claim = await idempotency.claim(self.store, scope, key, request_hash, service.utcnow())
        while claim.state is ClaimState.RUNNING and loop.time() < deadline:
            await asyncio.sleep(IDEMPOTENCY_POLL)
            found = await idempotency.lookup(self.store, scope, key, request_hash)
            claim = found or await idempotency.claim(
                self.store, scope, key, request_hash, service.utcnow()
            )
        if claim.state is ClaimState.CLAIMED:
            return None
        if claim.state is ClaimState.MISMATCH:
            raise ApiProblem(
                "idempotency-key-reused",
                f"Idempotency-Key {key!r} was used with a different request in the last 24 h",
                errors=[{"field": "header.idempotency-key", "message": "already used"}],
            )
        if claim.state is ClaimState.RUNNING:
            raise ApiProblem(
                "idempotency-key-in-use",
                f"a request with Idempotency-Key {key!r} is still running; retry later",
            )
        return Response(
            content=claim.response_body,
            status_code=claim.response_status or 200,
            media_type=JSON_MEDIA_TYPE,
            headers={"Idempotent-Replayed": "true"},
        )


def get_idempotency(
    request: Request,
    store: StoreDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Repeat a creating request safely: the same key and body within 24 h "
            "answer the first response and create nothing new.",
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(request, store, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
