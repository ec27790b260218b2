"""Problem details (RFC 9457): the only place errors become HTTP statuses.

Every error answer is ``application/problem+json``::

    {"type": "https://statushooks.dev/problems/validation", "title": "Invalid request",
     "status": 422, "detail": "…", "errors": [{"field": "body.to", "message": "…"}]}

``type`` is an identifier (one per kind of problem, listed in ``PROBLEM_TYPES``); ``errors``
lists each invalid field and is empty for other problems.

=================================  ======  ===================
exception                          status  type
=================================  ======  ===================
``ValidationError`` (+ subclasses)  422     validation
``NotFoundError``                   404     not-found
``ConflictError``                   409     conflict
``SignatureMissingError``           401     unauthorized
``SignatureError``                  403     forbidden
``StorageError``                    503     storage-unavailable
``ConfigurationError``              500     configuration
``StatushooksError`` (other)        500     internal
``RequestValidationError``          422     validation (400 malformed-json for unparsable JSON)
Starlette ``HTTPException``         its     about:blank (404 for an unknown route, 405, …)
``ApiProblem``                      its     its own (401, 403, 413, idempotency problems)
=================================  ======  ===================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from statushooks import exceptions

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://statushooks.dev/problems/"
logger = logging.getLogger(__name__)

#: kind → (status, title)
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "validation": (422, "Invalid request"),
    "malformed-json": (400, "Malformed JSON body"),
    "not-found": (404, "Not found"),
    "conflict": (409, "Conflict"),
    "unauthorized": (401, "Missing or invalid credentials"),
    "forbidden": (403, "Forbidden"),
    "payload-too-large": (413, "Request body too large"),
    "idempotency-key-reused": (422, "Idempotency-Key reused with a different request"),
    "storage-unavailable": (503, "Database unavailable"),
    "configuration": (500, "Server misconfigured"),
    "internal": (500, "Internal server error"),
}


class ApiProblem(Exception):  # noqa: N818 - a problem document, not an error of the domain
    """An HTTP-level problem raised inside ``api/`` (auth, limits, idempotency)."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str | None = None,
    errors: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [dict(error) for error in errors],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_of(kind: str, detail: str, **kw: Any) -> JSONResponse:
    status, title = PROBLEM_TYPES[kind]
    return problem(status, title, detail, kind=kind, **kw)


def kind_of(exc: exceptions.StatushooksError) -> str:
    """The problem kind of a domain error."""
    if isinstance(exc, exceptions.ValidationError):
        return "validation"
    if isinstance(exc, exceptions.NotFoundError):
        return "not-found"
    if isinstance(exc, exceptions.ConflictError):
        return "conflict"
    if isinstance(exc, exceptions.SignatureMissingError):
        return "unauthorized"
    if isinstance(exc, exceptions.SignatureError):
        return "forbidden"
    if isinstance(exc, exceptions.StorageError):
        return "storage-unavailable"
    if isinstance(exc, exceptions.ConfigurationError):
        return "configuration"
    return "internal"


def statushooks_problem(exc: exceptions.StatushooksError) -> JSONResponse:
    """The problem answer for a domain error; server-side faults hide their details."""
    kind = kind_of(exc)
    if kind == "storage-unavailable":
        logger.error("%s", exc, exc_info=exc)  # its message says "database error"
        return problem_of(kind, "the database did not answer; try again")
    if kind in ("internal", "configuration"):
        logger.error("request failed: %s", exc, exc_info=exc)
        return problem_of(kind, PROBLEM_TYPES[kind][1])
    errors = exc.errors if isinstance(exc, exceptions.ValidationError) else ()
    return problem_of(kind, exc.message, errors=errors)


def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per pydantic error.

    The field is the dotted location without the leading ``body`` (``to``,
    ``reports.3.status``), or with its source otherwise (``query.limit``, ``header.authorization``).
    """
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        if loc[:1] == ["body"]:
            loc = loc[1:]
        errors.append(
            {"field": ".".join(loc) or "body", "message": str(error.get("msg", "invalid"))}
        )
    return errors


async def _on_statushooks_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, exceptions.StatushooksError)
    return statushooks_problem(exc)


async def _on_request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return problem_of("malformed-json", "the request body is not valid JSON", errors=errors)
    fields = ", ".join(error["field"] for error in errors)
    return problem_of("validation", f"invalid fields: {fields}", errors=errors)


async def _on_api_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_of(exc.kind, exc.detail, errors=exc.errors, headers=exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    detail = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return problem(exc.status_code, title, detail, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method a route takes at the request's path: Starlette's 405 names only those of
    the first route that matched the path."""
    contexts = getattr(routing, "iter_route_contexts", None)
    routes = contexts(request.app.routes) if contexts else request.app.routes
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error", exc_info=exc)
    return problem_of("internal", "an unexpected error occurred")


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(exceptions.StatushooksError, _on_statushooks_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
