"""The OpenAPI document is the contract: schemathesis finds nothing it misdescribes.

This is ``schemathesis run /openapi.json --checks all`` with every phase (examples, coverage,
fuzzing, stateful), through schemathesis's pytest API: the real app under uvicorn on
127.0.0.1 with a SQLite file, an account's API key and the admin token, a fixed seed and a
bounded number of examples. Each operation is one test; the stateful chains are one more.

Three things the document states but no JSON Schema keyword can express, and one of HTTP
itself, are given to the generator here, each the way a careful client behaves:

* ``format: e164`` means a number in use in its country (libphonenumber), not only the E.164
  shape: valid numbers are drawn from libphonenumber's examples, and a positive case built
  from the pattern alone (the coverage phase's boundary values) is not sent;
* an ``Idempotency-Key`` names one request: a positive case's key is made unique, since the
  same key with another body is refused (422, as the IETF Idempotency-Key draft says);
* a status report may be refused with 422 when the message's channel cannot have the status
  (``clicked`` on an email), a connector's new credentials when they are not its provider's
  fields (the provider is not in a PATCH's body), and new SMS keywords when a word is in both
  lists: the operations' 422 say so, and only those operations' acceptance checks allow it;
* the request's framing (``Content-Length``, ``Transfer-Encoding``, ``Host``, ``Connection``) is
  the HTTP client's: a generated case's extra headers never set it.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import phonenumbers
import pytest
import schemathesis
import uvicorn
from hypothesis import strategies as st

from statushooks import config, exceptions, sms
from statushooks.api import create_app

SEED = 20251207
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
#: Examples per operation in the fuzzing phase (the coverage phase makes its own).
MAX_EXAMPLES = 20
#: Stateful chains, and calls in each.
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 8
ADMIN_TOKEN = "contract-admin-token-0123456789"
API_KEY = "sk_the-account-key"
STARTUP_TIMEOUT = 10.0  # seconds
PHONE_OPERATIONS = frozenset({"/v1/sms", "/v1/voice"})
#: Headers of the request's framing, which a generated case may carry among its extra headers
#: (``content-length: x&q``): uvicorn answers such a request 400 before any route sees it.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})
STATUS_REPORT = "/v1/messages/{message_id}/status"
#: The provider (and so the credential fields) of a connector is not in a PATCH's body.
CONNECTOR = "/v1/connectors/{connector_id}"
#: What a schema-valid request may be answered (schemathesis's default) …
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
#: … and a status report, also when the message's channel cannot have the status.
ACCEPTED_STATUS_REPORT = [*ACCEPTED, "422"]
SMS_KEYWORDS = "/v1/sms-keywords"
#: … and new keywords, also when a word is in both lists (in any case).
ACCEPTED_SMS_KEYWORDS = [*ACCEPTED, "422"]


def _valid_numbers() -> list[str]:
    """A mobile number in use in each region libphonenumber has an example for."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return numbers


schemathesis.openapi.format("e164", st.sampled_from(_valid_numbers()))
_keys = itertools.count()
#: Headers that frame the HTTP message itself: the client sets them, never the case.
FRAMING_HEADERS = frozenset({"transfer-encoding", "content-length", "connection", "host"})
#: The running API's base URL and the account's API key (``live_api``).
LIVE: dict[str, str] = {}


def _positive(case: schemathesis.Case) -> bool:
    return (
        case.meta is not None and case.meta.generation.mode == schemathesis.GenerationMode.POSITIVE
    )


def _is_phone_number(value: Any) -> bool:
    try:
        sms.region_code(value)
    except (exceptions.InvalidPhoneNumberError, TypeError):
        return False
    return True


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:  # noqa: ARG001
    """A positive case sends a phone number in use (``format: e164``)."""
    if case.operation.path not in PHONE_OPERATIONS or not _positive(case):
        return True
    return not isinstance(case.body, dict) or _is_phone_number(case.body.get("to"))


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext,  # noqa: ARG001 - the hook's signature
    case: schemathesis.Case,
    kwargs: Any,  # noqa: ARG001
) -> None:
    """The account's key in place of ``API_KEY``; a positive case's ``Idempotency-Key`` is
    used once; no made-up message framing (``Transfer-Encoding: wss`` is refused by the HTTP
    server with a 400 before any route sees it: no document describes that)."""
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() in FRAMING_HEADERS:
            del headers[name]  # the HTTP client frames the request; no client sets these
        elif name.lower() == "authorization" and value == f"Bearer {API_KEY}":
            headers[name] = f"Bearer {LIVE['api_key']}"
        elif name.lower() == "idempotency-key" and _positive(case):
            headers[name] = f"{value[:240]}-{next(_keys)}"


def _document() -> dict[str, Any]:
    """The document ``/openapi.json`` serves (``test_openapi_docs`` checks they are equal)."""
    settings = config.load_settings(database_url="sqlite+aiosqlite:///:memory:")
    return create_app(settings).openapi()


#: Every phase and every check; the seed; the bounds.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
        # The account's key exists only once the server runs: API_KEY stands for it until
        # the request is sent (before_call).
        "auth": {
            "openapi": {
                "apiKey": {"bearer": API_KEY},
                "adminToken": {"bearer": ADMIN_TOKEN},
                "metricsToken": {"bearer": ADMIN_TOKEN},  # /metrics takes the admin token too
            }
        },
        "operations": [
            {
                "include-path": STATUS_REPORT,
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUS_REPORT}
                },
            },
            {
                "include-path": CONNECTOR,
                "include-method": "PATCH",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUS_REPORT}
                },
            },
            {
                "include-path": SMS_KEYWORDS,
                "include-method": "PUT",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ACCEPTED_SMS_KEYWORDS}
                },
            },
        ],
    }
)
DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def _serve(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="contract-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API (no dispatcher: nothing is delivered) on a SQLite file, with an account."""
    database: Path = tmp_path_factory.mktemp("contract") / "statushooks.db"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = config.load_settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        public_base_url=url,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        # An endpoint with a verification is verified when it is created: the generated URLs
        # answer nothing, and each one may take this long.
        delivery_timeout=1.0,
    )
    server, thread = _serve(create_app(settings), sock)
    try:
        created = httpx.post(
            f"{url}/v1/accounts",
            json={"name": "contract"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201, created.text
        LIVE.update(url=url, api_key=created.json()["api_key"])
        yield url
    finally:
        LIVE.clear()
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()


@pytest.mark.slow
@schema.parametrize()
def test_operation(case: schemathesis.Case, live_api: str) -> None:
    """Each operation answers only what the document says, for valid and invalid requests."""
    case.call_and_validate(base_url=live_api)


@pytest.mark.slow
def test_stateful(live_api: str) -> None:
    """Chains of calls along the document's links (create, read, change, delete) hold too."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": live_api}

    # As schemathesis runs its stateful phase: generate only. A replay (shrinking, the example
    # database) meets a server whose state has moved on, and Hypothesis calls that flaky.
    hypothesis.seed(SEED)(Workflow).run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            phases=[hypothesis.Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
