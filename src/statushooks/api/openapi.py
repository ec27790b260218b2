"""The OpenAPI document, made exact in one place, and the docs UIs served from the package.

FastAPI writes the paths and the schemas from the routes and the models (``api/schemas.py``
holds every request constraint); ``document`` adds what FastAPI cannot know:

* every operation's error answers, as ``Problem`` under ``application/problem+json`` (in
  place of FastAPI's ``HTTPValidationError``), worked out from what the route takes:

  ======================================  =====================================
  the route takes                         it documents
  ======================================  =====================================
  a JSON body                             400 (not JSON), 413 (over 1 MiB), 422
  parameters                              422
  an API key / the admin token            401 / 401 and 403
  a path parameter, or an ``*_id`` filter 404
  POST, PATCH or DELETE                   409
  the database                            503
  ======================================  =====================================

* three bearer security schemes, ``apiKey`` (an account's), ``adminToken`` and ``metricsToken``;
* the shape of every id in a path or a query, the event type names, and no ``null`` for a
  parameter left out; every other string parameter is free of NUL characters, as the body
  limit middleware requires;
* the ``WWW-Authenticate``, ``Location`` and ``Idempotent-Replayed`` response headers;
* operation ids (the handlers' names), the links from each creating operation's answer to the
  operations that take the id it made, tags with descriptions, and an example of every schema
  (``api.examples``);
* OpenAPI 3.1 ``webhooks``: one per event type of the catalog, with the catalog's JSON Schema
  and example of its payload, and the signature headers (``signing``).

``install`` also serves ``/docs`` (Swagger UI) and ``/redoc`` from ``api/static/``: no CDN.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from statushooks import ids, signing
from statushooks.api import deps, errors, examples, schemas
from statushooks.events import catalog

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs/assets"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
KSUID = f"[0-9A-Za-z]{{{ids.KSUID_LENGTH}}}"
WRITE_METHODS = frozenset({"post", "patch", "put", "delete"})

TAGS: list[dict[str, str]] = [
    {
        "name": "messages",
        "description": "Submit an SMS, an email or a voice call; each emits `submitted` events.",
    },
    {
        "name": "status reports",
        "description": "Delivery receipts: each report that moves a message on emits its events.",
    },
    {"name": "endpoints", "description": "Where an account's events are delivered, signed."},
    {"name": "events", "description": "Every webhook payload emitted, exactly as sent."},
    {
        "name": "deliveries",
        "description": "One event to one endpoint, and its HTTP attempts; retry a finished one.",
    },
    {"name": "event types", "description": "The event catalog: each type's schema and example."},
    {
        "name": "connectors",
        "description": "Providers' delivery receipts in: a connector per provider account, "
        "its callback authenticated by the provider's signature (docs/connectors.md).",
    },
    {"name": "accounts", "description": "Accounts and API keys (the admin token only)."},
    {
        "name": "inbound",
        "description": "Texts received from phone numbers, opt-out keywords and the "
        "suppression list: a number on it is never sent an SMS.",
    },
    {"name": "links", "description": "Tracked links: a click redirects and emits `clicked`."},
    {
        "name": "portal",
        "description": "Links that open an account's customer portal (`/portal`) without a key.",
    },
    {
        "name": "health",
        "description": "Liveness and readiness (no auth); Prometheus metrics (the metrics token "
        "or the admin token).",
    },
    {
        "name": "webhooks",
        "description": "What statushooks POSTs to your endpoints. Every request is signed per "
        "[Standard Webhooks](https://www.standardwebhooks.com/) (`webhook-id`, "
        "`webhook-timestamp`, `webhook-signature`); YCloud events also carry "
        "`YCloud-Signature`. Answer 2xx within the timeout; anything else is retried.",
    },
]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sk_…",
        "description": "An account's API key: `Authorization: Bearer sk_…`.",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (`STATUSHOOKS_ADMIN_TOKEN`): the account routes, and "
        "`/metrics`.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The metrics token (`STATUSHOOKS_METRICS_TOKEN`): `/metrics` only.",
    },
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not JSON",
    401: "No credentials, or unknown ones",
    403: "The admin API is off (no `STATUSHOOKS_ADMIN_TOKEN`; for `/metrics`, nor "
    "`STATUSHOOKS_METRICS_TOKEN`)",
    404: "No such resource in this account",
    409: "The request conflicts with the resource's state, or with a concurrent write",
    413: "The body is over 1 MiB",
    422: "A parameter or a field is invalid: `errors` names each one",
    503: "The database did not answer; try again",
}

#: Operation id → what more its 422 means: the rules a schema cannot hold.
INVALID_NOTES: dict[str, str] = {
    "create_sms": "; `to` must be a number in use in its country, not only E.164-shaped",
    "create_voice": "; `to` must be a number in use in its country, not only E.164-shaped",
    "create_endpoint": "; the URL's host may be refused (private, loopback, metadata)",
    "update_endpoint": "; the URL's host may be refused (private, loopback, metadata)",
    "update_sms_keywords": "; or a word is in both lists (in any case)",
    "create_status_report": "; or the status is one the message's channel cannot have "
    "(`clicked` or `undelivered` on an email, `clicked` on a voice call)",
    "update_connector": "; or the `credentials` are not the fields of the connector's provider",
}

PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "An RFC 9457 problem document: every error answer is one.",
        "properties": {
            "type": {
                "type": "string",
                "description": f"`{errors.PROBLEM_BASE}<kind>` (kinds: "
                + ", ".join(f"`{kind}`" for kind in errors.PROBLEM_TYPES)
                + "), or `about:blank` for an HTTP error with no kind of its own",
            },
            "title": {"type": "string", "description": "The kind's title"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What went wrong in this request"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/FieldError"},
                "description": "Each invalid field (none for other problems)",
            },
        },
        "required": ["type", "title", "status", "detail", "errors"],
        "examples": [examples.problem("validation")],
    },
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "properties": {
            "field": {
                "type": "string",
                "description": "The field's dotted path in the body (`to`, `reports.3.status`), "
                "or its place and name (`query.limit`, `header.idempotency-key`)",
            },
            "message": {"type": "string"},
        },
        "required": ["field", "message"],
    },
}

#: Parameters by name: the schema of every id or name they take.
_ID_PARAMETERS = {
    "account_id": "acc",
    "key_id": "key",
    "endpoint_id": "ep",
    "message_id": "msg",
    "event_id": "evt",
    "delivery_id": "dlv",
    "connector_id": "con",
}
_EVENT_TYPE_NAMES = [event_type.name for event_type in catalog.all_types()]
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    **{
        name: {"type": "string", "pattern": f"^{prefix}_{KSUID}$"}
        for name, prefix in _ID_PARAMETERS.items()
    },
    "type": {"type": "string", "enum": _EVENT_TYPE_NAMES},
    "name": {"type": "string", "enum": _EVENT_TYPE_NAMES},
    "code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}


def _ids_for(targets: tuple[str, ...], parameter: str, source: str) -> dict[str, dict[str, str]]:
    return {target: {parameter: f"$response.body#/{source}"} for target in targets}


_MESSAGE_READERS = ("read_message", "create_status_report")
_ENDPOINT_USERS = (
    "read_endpoint",
    "update_endpoint",
    "delete_endpoint",
    "read_endpoint_secret",
    "rotate_endpoint_secret",
    "read_endpoint_stats",
    "create_endpoint_test",
    "verify_endpoint",
    "recover_endpoint",
)
#: Operation id → {operation id → {parameter → where its value is in the answer}}: the OpenAPI
#: links of each creating operation's success answer.
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "create_account": _ids_for(("create_api_key",), "account_id", "id"),
    "create_api_key": _ids_for(("delete_api_key",), "key_id", "id"),
    "create_endpoint": _ids_for(_ENDPOINT_USERS, "endpoint_id", "id"),
    "create_sms": _ids_for(_MESSAGE_READERS, "message_id", "id"),
    "create_email": _ids_for(_MESSAGE_READERS, "message_id", "id"),
    "create_voice": _ids_for(_MESSAGE_READERS, "message_id", "id"),
    "create_endpoint_test": {
        **_ids_for(
            ("read_delivery", "read_delivery_attempts", "retry_delivery"), "delivery_id", "id"
        ),
        **_ids_for(("read_event",), "event_id", "event_id"),
    },
}

# -- the document --------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Serve the exact document at ``/openapi.json``, and the docs UIs from the package.

    ``app`` is made with ``docs_url=None, redoc_url=None``; call this once its routes are in.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    _serve_docs(app)


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``: FastAPI's, completed (see the module docstring)."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=TAGS,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    components = doc.setdefault("components", {})
    schemas_ = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas_.pop(name, None)
    _name_by_title(doc)
    schemas_.update(copy.deepcopy(PROBLEM_SCHEMAS))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for route, method, operation in _operations(doc, app):
        _complete(operation, route, method)
    for name, example in examples.SCHEMA_EXAMPLES.items():
        schemas_[name]["examples"] = [example]
    doc["webhooks"] = _webhooks(schemas_)
    return doc


def _name_by_title(doc: dict[str, Any]) -> None:
    """Name each schema by its title where they differ: ``MessageOutPage``, not pydantic's
    ``Page_MessageOut_`` (generated clients name their classes after these)."""
    schemas_ = doc["components"]["schemas"]
    renames = {
        f"#/components/schemas/{name}": schema["title"]
        for name, schema in schemas_.items()
        if schema.get("title", name) != name and schema["title"] not in schemas_
    }
    for ref, title in renames.items():
        schemas_[title] = schemas_.pop(ref.rsplit("/", 1)[1])

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("$ref") in renames:
                node["$ref"] = "#/components/schemas/" + renames[node["$ref"]]
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(doc)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """The path and the route of every API route, however FastAPI keeps included routers."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI copies the included routes into app.routes
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route
        return
    for context in contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path_format, route


def _operations(doc: dict[str, Any], app: FastAPI) -> Iterator[tuple[APIRoute, str, Any]]:
    for path, route in _api_routes(app):
        if route.include_in_schema:
            for method in sorted(route.methods or ()):
                yield route, method.lower(), doc["paths"][path][method.lower()]


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    """Every dependency ``dependant`` has, however deep."""
    found: set[Callable[..., Any]] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= _calls(sub)
    return found


#: Routes a provider calls, authenticated by its signature or basic auth (no API key).
PROVIDER_SIGNED = frozenset({"receive_callback", "receive_callback_get"})


def error_statuses(route: APIRoute, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses ``route`` can answer (the table in the module docstring)."""
    calls = _calls(route.dependant)
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = set()
    if has_body:
        statuses |= {400, 413, 422}
    if parameters:
        statuses.add(422)
    if calls & {deps.authenticated_account, deps.get_sender}:
        statuses.add(401)
    if calls & {deps.require_admin, deps.require_metrics_reader}:
        statuses |= {401, 403}
    if any(p["in"] == "path" or p["name"].endswith("_id") for p in parameters):
        statuses.add(404)
    if route.name in PROVIDER_SIGNED:
        statuses |= {401, 403, 422}
    if method in WRITE_METHODS:
        statuses.add(409)
    if calls & {deps.get_service, deps.get_store, deps.authenticated_account, deps.get_sender}:
        statuses.add(503)
    return sorted(statuses)


def _complete(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    """Operation id, security, parameters and responses of one operation."""
    operation["operationId"] = route.name
    calls = _calls(route.dependant)
    if deps.require_admin in calls:
        operation["security"] = [{"adminToken": []}]
    elif deps.require_metrics_reader in calls:
        operation["security"] = [{"adminToken": []}, {"metricsToken": []}]
    elif calls & {deps.authenticated_account, deps.get_sender}:
        operation["security"] = [{"apiKey": []}]
    for parameter in operation.get("parameters", []):
        _complete_parameter(parameter)
    responses = operation["responses"]
    for status in error_statuses(route, method, operation):
        responses[str(status)] = _problem_response(status)
    if "422" in responses:
        responses["422"]["description"] += INVALID_NOTES.get(route.name, "")
    operation["responses"] = responses = dict(sorted(responses.items()))
    if calls & {deps.get_idempotency, deps.get_sender}:
        for status, response in responses.items():
            if status.startswith("2"):
                response.setdefault("headers", {})["Idempotent-Replayed"] = {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same `Idempotency-Key`",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    for target, parameters in LINKS.get(route.name, {}).items():
        success = next(status for status in responses if status.startswith("2"))
        responses[success].setdefault("links", {})[target] = {
            "operationId": target,
            "parameters": parameters,
        }
    if route.name in PROVIDER_SIGNED:
        challenge = responses["401"]["headers"]["WWW-Authenticate"]["schema"]
        challenge["enum"] = [deps.BASIC_CHALLENGE]
    if "302" in responses:
        responses["302"]["headers"] = {
            "Location": {
                "description": "The original URL",
                "required": True,
                "schema": {"type": "string"},
            }
        }


def _complete_parameter(parameter: dict[str, Any]) -> None:
    """The exact schema of a parameter: no ``null`` (it is left out instead), the shape of ids
    and names, and no NUL character in any other text."""
    schema = parameter["schema"]
    branches = schema.get("anyOf")
    if branches and {"type": "null"} in branches:
        rest = [branch for branch in branches if branch != {"type": "null"}]
        del schema["anyOf"]
        schema.pop("default", None)
        if len(rest) == 1:
            schema.update(rest[0])
        else:
            schema["anyOf"] = rest
    if "pattern" in schema:  # ECMA-262 has no (?P<name>…)
        schema["pattern"] = _NAMED_GROUP.sub("(?:", schema["pattern"])
    known = PARAMETER_SCHEMAS.get(parameter["name"])
    if known is not None and parameter["in"] in ("path", "query"):
        schema.pop("maxLength", None)
        schema.update(known)
    elif schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
        schema["pattern"] = schemas.NUL_FREE_PATTERN


def _problem_response(status: int) -> dict[str, Any]:
    kinds = [kind for kind in examples.PROBLEM_DETAILS if errors.PROBLEM_TYPES[kind][0] == status]
    content: dict[str, Any] = {"schema": PROBLEM_REF}
    if kinds:
        content["examples"] = {
            kind: {"summary": errors.PROBLEM_TYPES[kind][1], "value": examples.problem(kind)}
            for kind in kinds
        }
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {errors.PROBLEM_MEDIA_TYPE: content},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string", "enum": ["Bearer"]}}
        }
    return response


# -- webhooks ------------------------------------------------------------------------------

_SIGNATURE_ENTRY = r"(?:v1,[A-Za-z0-9+/]{43}=|v1a,[A-Za-z0-9+/]{86}==)"
SIGNATURE_PATTERN = rf"^{_SIGNATURE_ENTRY}(?: {_SIGNATURE_ENTRY})*$"
_DELIVERY_CONTROL = (
    " Any answer may carry `webhook-delivery: disable` (the endpoint is disabled, the reason "
    "recorded) or, when not 2xx, `webhook-delivery: abort-message` (this event is not retried)."
)
WEBHOOK_RESPONSES: dict[str, dict[str, str]] = {
    "2XX": {"description": "Delivered: no more attempts." + _DELIVERY_CONTROL},
    "410": {"description": "Gone: the endpoint is disabled and gets nothing more"},
    "default": {
        "description": "Any other status, a redirect (not followed), or no answer within the "
        "timeout: retried on the endpoint's schedule; a `Retry-After` header is honoured."
        + _DELIVERY_CONTROL
    },
}


def _header(
    name: str, description: str, schema: dict[str, Any], *, required: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


def signature_headers(event_type: catalog.EventType) -> list[dict[str, Any]]:
    """The headers every request of ``event_type`` carries (``delivery.request_headers``)."""
    headers = [
        _header(
            signing.HEADER_ID,
            "The event's id: the same on every retry and at every endpoint; deduplicate on it",
            {"type": "string", "pattern": f"^evt_{KSUID}$"},
        ),
        _header(
            signing.HEADER_TIMESTAMP,
            "Unix seconds when this attempt was signed; refuse stale ones (e.g. over 5 min)",
            {"type": "string", "pattern": "^[0-9]+$"},
        ),
        _header(
            signing.HEADER_SIGNATURE,
            "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed "
            "with the base64-decoded part of the endpoint's `whsec_` secret, and/or `v1a,` + "
            "base64 Ed25519 signature of the same, verified with the endpoint's `whpk_` public "
            "key (its `signature_versions`); one per live secret, space-separated, while a "
            "secret is being rotated: accept any match",
            {"type": "string", "pattern": SIGNATURE_PATTERN},
        ),
        _header("User-Agent", "statushooks and its version", {"type": "string"}),
    ]
    if event_type.dialect == catalog.YCLOUD:
        headers += [
            _header(
                signing.YCLOUD_HEADER_SIGNATURE,
                '`t={unix seconds},s={hex HMAC-SHA256 of "{t}.{body}"}`, keyed with the '
                "endpoint's newest `v1` secret as it is (the whole `whsec_…` string); absent "
                "when the endpoint is signed with `v1a` only",
                {"type": "string", "pattern": "^t=[0-9]+,s=[0-9a-f]{64}$"},
                required=False,
            ),
            _header(
                signing.YCLOUD_HEADER_ENDPOINT_ID,
                "The endpoint's id",
                {"type": "string", "pattern": f"^ep_{KSUID}$"},
            ),
        ]
    return headers


def _webhook_description(event_type: catalog.EventType, statuses: str) -> str:
    if event_type.channel is None:
        return (
            "Operational event: sent only to the endpoints that name it in `enabled_events`, "
            "never to the endpoint it is about."
        )
    return (
        f"Dialect `{event_type.dialect}`, {event_type.channel} messages; "
        f"sent when a message reaches {statuses}."
    )


def _webhooks(components: dict[str, Any]) -> dict[str, Any]:
    """One webhook per event type; its payload schema goes in ``components`` by type name."""
    webhooks: dict[str, Any] = {}
    for event_type in catalog.all_types():
        payload = {k: v for k, v in event_type.schema.items() if k not in ("$schema", "$id")}
        payload["description"] = event_type.description
        components[event_type.name] = copy.deepcopy(payload)
        statuses = ", ".join(f"`{status}`" for status in sorted(event_type.statuses))
        webhooks[event_type.name] = {
            "post": {
                "tags": ["webhooks"],
                "summary": event_type.description,
                "description": _webhook_description(event_type, statuses),
                "operationId": "webhook_" + event_type.name.replace(".", "_"),
                "parameters": signature_headers(event_type),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{event_type.name}"},
                            "example": copy.deepcopy(dict(event_type.example)),
                        }
                    },
                },
                "responses": copy.deepcopy(WEBHOOK_RESPONSES),
            }
        }
    return webhooks


# -- docs UIs ------------------------------------------------------------------------------


def _serve_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc``, their scripts from ``api/static/``."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def read_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=root + oauth2_redirect,
            # No badge fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def read_docs_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def read_redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + "/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
