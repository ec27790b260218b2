"""``/openapi.json`` is a valid OpenAPI 3.1 document that says what the API does, and the docs
UIs at ``/docs`` and ``/redoc`` load nothing from outside the package."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from acceptance_support import Server
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from statushooks import config, urlguard
from statushooks.api import create_app, errors, schemas
from statushooks.events import catalog

STATIC = Path(schemas.__file__).parent / "static"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(config.load_settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A JSON Schema 2020-12 validator of ``schema`` whose refs resolve in ``document``."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """The document passes the OpenAPI 3.1 validator."""
    assert document["openapi"].startswith("3.1.")
    validate(document)


async def test_served_document_is_the_apps(server: Server, document: dict[str, Any]) -> None:
    """``/openapi.json`` serves that same document."""
    response = await server.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == document


def test_every_error_is_a_problem(document: dict[str, Any]) -> None:
    """Every 4xx and 5xx answer is the Problem schema as application/problem+json; FastAPI's
    HTTPValidationError is gone."""
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        errors_ = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        for status, response in errors_.items():
            assert list(response["content"]) == [errors.PROBLEM_MEDIA_TYPE], (path, status)
            assert response["content"][errors.PROBLEM_MEDIA_TYPE]["schema"] == PROBLEM
        if operation.get("security"):
            assert {"401", "503"} <= set(errors_), (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(errors_), (method, path)
        if "{" in path:
            assert "404" in errors_, (method, path)


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/v1/accounts", "post", {"400", "401", "403", "409", "413", "422", "503"}),
        ("/v1/endpoints/{endpoint_id}", "get", {"401", "404", "422", "503"}),
        ("/v1/deliveries", "get", {"401", "404", "422", "503"}),
        ("/healthz", "get", set()),
        ("/readyz", "get", {"503"}),
    ],
)
def test_error_statuses(
    document: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    """The error statuses follow from what the route takes (api/openapi.py's table)."""
    responses = document["paths"][path][method]["responses"]
    assert {status for status in responses if status[0] in "45"} == statuses


def test_operations_are_named_tagged_and_secured(document: dict[str, Any]) -> None:
    """Each operation has its handler's name, a described tag and the right credentials."""
    described = {tag["name"] for tag in document["tags"]}
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, operation in _operations(document):
        assert set(operation["tags"]) <= described, (method, path)
        security = operation.get("security")
        if path.startswith(("/v1/accounts", "/v1/api-keys")):
            assert security == [{"adminToken": []}]
        elif path.startswith("/v1/"):
            assert security == [{"apiKey": []}]
        elif path == "/metrics":
            assert security == [{"adminToken": []}, {"metricsToken": []}]
        else:
            assert security is None
    assert document["paths"]["/v1/sms"]["post"]["operationId"] == "create_sms"


def test_parameters_are_exact(document: dict[str, Any]) -> None:
    """No parameter takes null; ids have their shape; every other text is NUL-free."""
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            assert "anyOf" not in schema, (method, path, parameter["name"])
            if schema.get("type") == "string":
                assert {"pattern", "enum", "format"} & set(schema), (path, parameter["name"])
                assert "(?P<" not in schema.get("pattern", "")
    message_id = document["paths"]["/v1/messages/{message_id}"]["get"]["parameters"][0]
    assert message_id["schema"]["pattern"] == "^msg_[0-9A-Za-z]{27}$"


def test_every_example_fits_its_schema(document: dict[str, Any]) -> None:
    """Each schema's example, and each problem example, is valid against its schema."""
    schemas_ = document["components"]["schemas"]
    with_examples = [name for name, schema in schemas_.items() if "examples" in schema]
    assert {"SmsCreate", "MessageOut", "EndpointWithSecret", "Problem"} <= set(with_examples)
    for name in with_examples:
        validator = _validator(document, {"$ref": f"#/components/schemas/{name}"})
        for example in schemas_[name]["examples"]:
            validator.validate(example)
    problem = _validator(document, PROBLEM)
    for _, _, operation in _operations(document):
        for response in operation["responses"].values():
            content = response.get("content", {}).get(errors.PROBLEM_MEDIA_TYPE, {})
            for example in content.get("examples", {}).values():
                problem.validate(example["value"])


def test_webhooks_are_the_catalog(document: dict[str, Any]) -> None:
    """One webhook per event type: the catalog's schema and example, and the signature
    headers (YCloud's too for its dialect)."""
    webhooks = document["webhooks"]
    assert list(webhooks) == [event_type.name for event_type in catalog.all_types()]
    for event_type in catalog.all_types():
        post = webhooks[event_type.name]["post"]
        body = post["requestBody"]["content"]["application/json"]
        assert body["example"] == event_type.example
        schema = document["components"]["schemas"][event_type.name]
        assert {k: v for k, v in schema.items() if k != "description"} == {
            k: v for k, v in event_type.schema.items() if k not in ("$schema", "$id")
        }
        _validator(document, body["schema"]).validate(event_type.example)
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers
        assert ("YCloud-Signature" in headers) == (event_type.dialect == catalog.YCLOUD)


@settings(max_examples=200, derandomize=True, database=None)
@given(st.from_regex(schemas.URL_PATTERN, fullmatch=True))
def test_urls_the_pattern_admits_are_admitted(url: str) -> None:
    """Every endpoint URL the document's pattern admits passes the URL guard (private
    addresses allowed), so the pattern promises nothing the server refuses."""
    refusal = urlguard.url_refusal(url, allow_private=True)
    assert refusal is None or "metadata" in refusal, (url, refusal)


@settings(max_examples=200, derandomize=True, database=None)
@given(st.from_regex(schemas.TIME_PATTERN, fullmatch=True))
def test_times_the_pattern_admits_parse(text: str) -> None:
    """Every time the pattern admits that is a real date is read, and is in range in UTC."""
    try:
        datetime.fromisoformat(text)
    except ValueError:  # 30 February: the date-time format, not the pattern, rules it out
        return
    assert schemas.Recover.model_validate({"since": text}).since.tzinfo is UTC


# -- the docs UIs --------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every ``src`` and ``href`` of a page, and every ``url:`` of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [
            value for name, value in attrs if name in ("src", "href", "spec-url") and value
        ]

    def handle_data(self, data: str) -> None:
        self.found += re.findall(r"""url:\s*['"]([^'"]+)['"]""", data)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_load_nothing_from_outside(server: Server, page: str) -> None:
    """The page refers only to this server; each script and style is the package's file."""
    response = await server.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(response.text)
    assert parser.found
    assert "http://" not in response.text and "https://" not in response.text
    for link in parser.found:
        assert link.startswith("/") and not link.startswith("//"), link
        asset = await server.client.get(link)
        assert asset.status_code == 200, link
        if link.startswith("/docs/assets/"):
            assert asset.content == (STATIC / link.removeprefix("/docs/assets/")).read_bytes()


def test_assets_ship_with_their_licences() -> None:
    """Each vendored UI has its licence beside it, and nothing else is unaccounted for."""
    names = {path.name for path in STATIC.iterdir()}
    assert {"swagger-ui.LICENSE", "swagger-ui.NOTICE", "redoc.LICENSE", "README.md"} <= names
    readme = (STATIC / "README.md").read_text()
    for name in names - {"README.md"}:
        assert f"`{name}`" in readme, name


async def test_docs_oauth2_redirect(server: Server) -> None:
    """Swagger UI's OAuth2 redirect page is served too (no outside script)."""
    response = await server.client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "<script src=" not in response.text
