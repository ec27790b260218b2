"""Dependencies of the routes: the service, who is calling, paging, idempotency.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread,
a hand-off to a thread and back for each one on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from statushooks import ids, service
from statushooks.api.errors import ApiProblem
from statushooks.config import Settings
from statushooks.storage import idempotency
from statushooks.storage.sql import Store
from statushooks.storage.transaction import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")

ADMIN_SCOPE = "__admin__"
#: A provider's callback without credentials is challenged for basic auth (some providers
#: send theirs only when asked).
BASIC_CHALLENGE = 'Basic realm="statushooks"'
JSON_MEDIA_TYPE = "application/json"

bearer = HTTPBearer(auto_error=False, description="An account API key (sk_…) or the admin token")


async def get_service(request: Request) -> service.Service:
    svc: service.Service = request.app.state.service
    return svc


async def get_store(request: Request) -> Store:
    svc: service.Service = request.app.state.service
    return svc.store


async def get_settings(request: Request) -> Settings:
    svc: service.Service = request.app.state.service
    return svc.settings


ServiceDep = Annotated[service.Service, Depends(get_service)]
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem("unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticated_account(request: Request, credentials: Credentials) -> str:
    """The id of the account whose API key is in ``Authorization: Bearer``. (The service is
    taken from the app, not as a dependency of its own: each dependency FastAPI resolves
    costs tens of µs on every request.)"""
    if credentials is None:
        raise _unauthorized("send your API key as 'Authorization: Bearer sk_…'")
    svc: service.Service = request.app.state.service
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


async def require_metrics_reader(settings: SettingsDep, credentials: Credentials) -> None:
    """The metrics token (``STATUSHOOKS_METRICS_TOKEN``) or the admin token passes."""
    tokens = [token for token in (settings.metrics_token, settings.admin_token) if token]
    if not tokens:
        raise ApiProblem(
            "forbidden",
            "/metrics is off: set STATUSHOOKS_METRICS_TOKEN (or STATUSHOOKS_ADMIN_TOKEN)",
        )
    if credentials is None:
        raise _unauthorized("send the metrics token as 'Authorization: Bearer …'")
    sent = credentials.credentials.encode()
    if not any(hmac.compare_digest(sent, token.encode()) for token in tokens):
        raise _unauthorized("/metrics needs the metrics token or the admin token")


AccountId = Annotated[str, Depends(authenticated_account)]
Admin = Depends(require_admin)
MetricsReader = Depends(require_metrics_reader)


@dataclass(frozen=True, kw_only=True)
class PageParams:
    limit: int
    after: str | None


async def page_params(
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


def _json_bytes(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


def json_response(model: BaseModel, status_code: int) -> Response:
    return Response(content=_json_bytes(model), status_code=status_code, media_type=JSON_MEDIA_TYPE)


class Idempotency:
    """Runs a creating request at most once per ``Idempotency-Key`` (24 h, per account): the
    key, the work and the answer commit in the work's own transaction
    (``storage.idempotency``)."""

    def __init__(self, request: Request, key: str | None) -> None:
        self.request = request
        self.key = key

    async def run(
        self,
        scope: str,
        work: Callable[[idempotency.Key | None], Awaitable[T]],
        present: Callable[[T], BaseModel],
        *,
        status_code: int,
    ) -> Response:
        """``present(await work(key))`` as the answer, or the stored answer of the first
        request with this key."""
        if self.key is None:
            return json_response(present(await work(None)), status_code)
        body = await self.request.body()
        key = idempotency.Key(
            scope=scope,
            key=self.key,
            request_hash=fingerprint(self.request.method, self.request.url.path, body),
            status_code=status_code,
            answer=lambda result: _json_bytes(present(result)),
        )
        try:
            await work(key)
        except idempotency.ReplayedError as replay:
            return Response(
                content=replay.body,
                status_code=replay.status_code,
                media_type=JSON_MEDIA_TYPE,
                headers={"Idempotent-Replayed": "true"},
            )
        except idempotency.KeyReusedError as exc:
            raise ApiProblem(
                "idempotency-key-reused",
                exc.message,
                errors=[{"field": "header.idempotency-key", "message": "already used"}],
            ) from None
        return Response(content=key.body, status_code=status_code, media_type=JSON_MEDIA_TYPE)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Repeat a creating request safely: the same key and body within 24 h "
        "answer the first response and create nothing new.",
    ),
]


async def get_idempotency(request: Request, idempotency_key: IdempotencyKey = None) -> Idempotency:
    return Idempotency(request, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


@dataclass(frozen=True, kw_only=True)
class Sender:
    """Who sends a message or a status report, and what with: the routes a platform calls
    for every message take this one dependency instead of three (the account, the service,
    the idempotency key): FastAPI's resolution of each costs tens of µs per request."""

    account_id: str
    svc: service.Service
    idem: Idempotency


async def get_sender(
    request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None
) -> Sender:
    return Sender(
        account_id=await authenticated_account(request, credentials),
        svc=request.app.state.service,
        idem=Idempotency(request, idempotency_key),
    )


SenderDep = Annotated[Sender, Depends(get_sender)]
