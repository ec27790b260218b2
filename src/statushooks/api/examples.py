"""An example of every request and response body, for the OpenAPI document.

Each example is built through its model (``model_validate`` then a JSON dump), so an example
that drifts from its model fails at import, not in a reader's client. ``SCHEMA_EXAMPLES`` is
keyed by the component name the model gets in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from statushooks.api import errors, schemas

ACCOUNT_ID = "acc_3N7aqrz2oZCIjdbahkXp1hNNeln"
KEY_ID = "key_3N7aqrz2oXSnvDpohSfP3tjgW7M"
API_KEY = "sk_zZE5VxrPLc7z-GW4HSPt2QNaTCZY4LJGPrSU1gHTyWk"
ENDPOINT_ID = "ep_3MZTxugPcdmPbcivBIlbecVDxXh"
MESSAGE_ID = "msg_3MZTyNNAcpHePtv2GpzvO9vZ2yc"
EVENT_ID = "evt_3MZTyNQ6hlw2ZcOvRmfWgz1Sl8T"
DELIVERY_ID = "dlv_3MZTyNRk1mJpzT6A3XzQjOe8AbC"
ATTEMPT_ID = "att_3MZTyPb0iBJmyMZhvNyWtmWbdPC"
TRANSACTION_ID = "tid_3MZTyNNAcpHePtv2GpzvO9vZ2yd"
SECRET = "whsec_LZjwbHKh0pWQPfu8hQbW2UsyhvWAIlyrpw5Pe3gkqQY="
OLD_SECRET = "whsec_Eq2dU8Zh0u3d1ZybhLbLqMpQmX6aaLC4Yk4d0pZ1HtA="
PUBLIC_KEY = "whpk_r7w2MC2R5nUQvznfj2nvbXIwtOYHwZxGTK2lGETIYWU="
OLD_PUBLIC_KEY = "whpk_1/SAwdLGfvosPyWYcZQrszdTTbQx+zwFjnf2WyVZKr4="
CREATED = "2025-06-30T12:08:43.125000Z"
UPDATED = "2025-06-30T12:08:45.031000Z"


def _dump(model: type[BaseModel], fields: dict[str, Any], *, given_only: bool) -> dict[str, Any]:
    value: dict[str, Any] = model.model_validate(fields).model_dump(
        mode="json", by_alias=True, exclude_unset=given_only
    )
    return value


def _request(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """A request body with only the fields given (``from`` for ``sender``)."""
    return _dump(model, fields, given_only=True)


def _response(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    return _dump(model, fields, given_only=False)


def _page(item: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    return {"data": [item], "next_cursor": cursor}


ENDPOINT: dict[str, Any] = _response(
    schemas.EndpointOut,
    id=ENDPOINT_ID,
    url="https://example.com/webhooks/statushooks",
    description="Delivery receipts for the CRM",
    enabled_events=["sms.message.updated"],
    statuses=["delivered", "failed"],
    status="active",
    disabled_reason=None,
    max_in_flight=10,
    rate_limit=None,
    ordered=True,
    metadata={"team": "messaging"},
    signature_versions=["v1", "v1a"],
    failing_since=None,
    suspended_until=None,
    created_at=CREATED,
    updated_at=CREATED,
)
_MESSAGE_FIELDS: dict[str, Any] = {
    "id": MESSAGE_ID,
    "channel": "sms",
    "status": "delivered",
    "to": "+447810000001",
    "sender": "Acme",
    "text": "Your code is 123456",
    "html": None,
    "subject": None,
    "verification_code": None,
    "language": None,
    "custom_id": "order-1042",
    "external_id": "order-1042",
    "correlation_id": None,
    "transaction_id": TRANSACTION_ID,
    "scheduled_at": None,
    "list_id": None,
    "campaign_id": None,
    "campaign_name": None,
    "error_code": None,
    "error_message": None,
    "segments": 1,
    "region_code": "GB",
    "price": 0.04,
    "currency": "USD",
    "created_at": CREATED,
    "updated_at": UPDATED,
}
MESSAGE: dict[str, Any] = _response(schemas.MessageOut, **_MESSAGE_FIELDS)
EVENT_SUMMARY: dict[str, Any] = _response(
    schemas.EventSummary,
    id=EVENT_ID,
    type="sms.message.updated",
    status="delivered",
    sequence=2,
    created_at=UPDATED,
)
DELIVERY: dict[str, Any] = _response(
    schemas.DeliveryOut,
    id=DELIVERY_ID,
    event_id=EVENT_ID,
    endpoint_id=ENDPOINT_ID,
    message_id=MESSAGE_ID,
    event_type="sms.message.updated",
    sequence=2,
    state="succeeded",
    attempts=1,
    next_attempt_at=None,
    last_response_status=200,
    last_error=None,
    created_at=UPDATED,
    updated_at=UPDATED,
    completed_at=UPDATED,
)
_PAYLOAD: dict[str, Any] = {
    "id": EVENT_ID,
    "type": "sms.message.updated",
    "apiVersion": "v2",
    "createTime": "2025-06-30T12:08:45.031Z",
    "sms": {
        "id": MESSAGE_ID,
        "to": "+447810000001",
        "status": "delivered",
        "text": "Your code is 123456",
        "senderId": "Acme",
        "regionCode": "GB",
        "totalSegments": 1,
        "totalPrice": 0.04,
        "currency": "USD",
        "createTime": "2025-06-30T12:08:43.125Z",
        "updateTime": "2025-06-30T12:08:45.031Z",
        "externalId": "order-1042",
    },
}
EVENT: dict[str, Any] = _response(
    schemas.EventOut, **EVENT_SUMMARY, message_id=MESSAGE_ID, payload=_PAYLOAD
)
ATTEMPT: dict[str, Any] = _response(
    schemas.AttemptOut,
    id=ATTEMPT_ID,
    delivery_id=DELIVERY_ID,
    endpoint_id=ENDPOINT_ID,
    number=1,
    started_at=UPDATED,
    duration_ms=38.2,
    request_headers={
        "Content-Type": "application/json",
        "webhook-id": EVENT_ID,
        "webhook-timestamp": "1751285325",
        "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    },
    response_status=200,
    response_body="ok",
    error_kind=None,
    error_message=None,
)
_EVENT_TYPE: dict[str, Any] = _response(
    schemas.EventTypeOut,
    name="email.delivery.updated",
    dialect="ycloud",
    channel="email",
    description="An email delivery status changed to delivered or failed.",
    statuses=["delivered", "failed"],
    json_schema={"type": "object", "description": "The whole JSON Schema, shortened here"},
    example={"id": "evt_…", "type": "email.delivery.updated", "emailDelivery": {}},
)
_SECRETS: dict[str, Any] = _response(
    schemas.SecretOut,
    secret=SECRET,
    previous=[{"secret": OLD_SECRET, "expires_at": "2025-07-01T12:08:43Z"}],
    public_key=PUBLIC_KEY,
    previous_public_keys=[{"public_key": OLD_PUBLIC_KEY, "expires_at": "2025-07-01T12:08:43Z"}],
)
_STATUS_RESULT: dict[str, Any] = _response(
    schemas.StatusResultOut, message=_MESSAGE_FIELDS, changed=True, events=[EVENT_ID]
)
_NOT_FOUND_ITEM: dict[str, Any] = {
    "type": errors.PROBLEM_BASE + "not-found",
    "title": "Not found",
    "status": 404,
    "detail": "no message msg_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
    "errors": [],
}

#: Component name → an example of it.
SCHEMA_EXAMPLES: dict[str, dict[str, Any]] = {
    "AccountCreate": _request(schemas.AccountCreate, name="Acme Ltd"),
    "AccountCreated": _response(
        schemas.AccountCreated,
        id=ACCOUNT_ID,
        name="Acme Ltd",
        created_at=CREATED,
        api_key_id=KEY_ID,
        api_key=API_KEY,
    ),
    "ApiKeyCreated": _response(
        schemas.ApiKeyCreated,
        id=KEY_ID,
        account_id=ACCOUNT_ID,
        api_key=API_KEY,
        prefix=API_KEY[:10],
    ),
    "EndpointCreate": _request(
        schemas.EndpointCreate,
        url="https://example.com/webhooks/statushooks",
        description="Delivery receipts for the CRM",
        enabled_events=["sms.message.updated"],
        statuses=["delivered", "failed"],
        metadata={"team": "messaging"},
    ),
    "EndpointUpdate": _request(schemas.EndpointUpdate, status="paused", rate_limit=5.0),
    "EndpointOut": ENDPOINT,
    "EndpointWithSecret": _response(
        schemas.EndpointWithSecret, **ENDPOINT, secret=SECRET, public_key=PUBLIC_KEY
    ),
    "EndpointOutPage": _page(ENDPOINT, None),
    "PreviousSecret": _SECRETS["previous"][0],
    "PreviousPublicKey": _SECRETS["previous_public_keys"][0],
    "SecretOut": _SECRETS,
    "EndpointTest": _request(schemas.EndpointTest, event_type="sms.message.updated"),
    "Recover": _request(
        schemas.Recover, since="2025-06-30T00:00:00Z", until="2025-06-30T12:00:00Z"
    ),
    "Recovered": _response(schemas.Recovered, endpoint_id=ENDPOINT_ID, requeued=12),
    "EndpointStatsOut": _response(
        schemas.EndpointStatsOut,
        endpoint_id=ENDPOINT_ID,
        since="2025-06-29T12:08:43Z",
        attempts=1520,
        successful_attempts=1513,
        success_rate=0.9954,
        latency={"p50_ms": 41.7, "p95_ms": 188.0},
        backlog=3,
        deliveries={"pending": 3, "leased": 0, "succeeded": 1511, "failed": 2},
    ),
    "LatencyOut": {"p50_ms": 41.7, "p95_ms": 188.0},
    "SmsCreate": _request(
        schemas.SmsCreate,
        to="+447810000001",
        **{"from": "Acme"},
        text="Your code is 123456",
        custom_id="order-1042",
    ),
    "EmailCreate": _request(
        schemas.EmailCreate,
        to="ada@example.com",
        **{"from": "receipts@acme.example"},
        subject="Your receipt",
        text="Thank you for your order.",
    ),
    "VoiceCreate": _request(
        schemas.VoiceCreate, to="+447810000001", verification_code="123456", language="en-GB"
    ),
    "MessageOut": MESSAGE,
    "MessageOutPage": _page(MESSAGE, MESSAGE_ID),
    "MessageDetail": _response(
        schemas.MessageDetail,
        **_MESSAGE_FIELDS,
        history=[
            {
                "status": "submitted",
                "occurred_at": CREATED,
                "recorded_at": CREATED,
                "error_code": None,
                "error_message": None,
                "detail": None,
            },
            {
                "status": "delivered",
                "occurred_at": "2025-06-30T12:08:44Z",
                "recorded_at": UPDATED,
                "error_code": None,
                "error_message": None,
                "detail": None,
            },
        ],
        events=[EVENT_SUMMARY],
    ),
    "EventSummary": EVENT_SUMMARY,
    "StatusReportIn": _request(
        schemas.StatusReportIn, status="delivered", occurred_at="2025-06-30T12:08:44Z"
    ),
    "BulkReportItem": _request(schemas.BulkReportItem, message_id=MESSAGE_ID, status="delivered"),
    "BulkReports": _request(
        schemas.BulkReports,
        reports=[
            {"message_id": MESSAGE_ID, "status": "delivered"},
            {
                "message_id": "msg_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
                "status": "failed",
                "error_code": "30003",
                "error_message": "Unreachable handset",
            },
        ],
    ),
    "StatusResultOut": _STATUS_RESULT,
    "BulkItemOut": _response(
        schemas.BulkItemOut,
        message_id=MESSAGE_ID,
        ok=True,
        changed=True,
        events=[EVENT_ID],
        error=None,
    ),
    "ItemProblem": _NOT_FOUND_ITEM,
    "BulkResultOut": _response(
        schemas.BulkResultOut,
        results=[
            {
                "message_id": MESSAGE_ID,
                "ok": True,
                "changed": True,
                "events": [EVENT_ID],
                "error": None,
            },
            {
                "message_id": "msg_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
                "ok": False,
                "changed": False,
                "events": [],
                "error": _NOT_FOUND_ITEM,
            },
        ],
    ),
    "EventOut": EVENT,
    "EventOutPage": _page(EVENT, None),
    "EventDetail": _response(schemas.EventDetail, **EVENT, deliveries=[DELIVERY]),
    "DeliveryOut": DELIVERY,
    "DeliveryOutPage": _page(DELIVERY, None),
    "AttemptOut": ATTEMPT,
    "AttemptOutPage": _page(ATTEMPT, None),
    "EventTypeOut": _EVENT_TYPE,
    "EventTypeOutPage": _page(_EVENT_TYPE, None),
    "Health": _response(schemas.Health, status="ok"),
}

#: Problem kind → an example ``detail`` (and ``errors``).
PROBLEM_DETAILS: dict[str, tuple[str, list[dict[str, str]]]] = {
    "validation": (
        "invalid fields: to",
        [{"field": "to", "message": "is not a valid phone number"}],
    ),
    "malformed-json": (
        "the request body is not valid JSON",
        [{"field": "body", "message": "JSON decode error"}],
    ),
    "not-found": ("no endpoint ep_3MZTxugPcdmPbcivBIlbecVDxXh", []),
    "conflict": ("endpoint ep_3MZTxugPcdmPbcivBIlbecVDxXh is disabled", []),
    "unauthorized": ("the API key is unknown or was deleted", []),
    "forbidden": ("the admin API is off: set STATUSHOOKS_ADMIN_TOKEN to enable it", []),
    "payload-too-large": ("request bodies may be at most 1048576 bytes", []),
    "idempotency-key-reused": (
        "Idempotency-Key 'order-1042' was used with a different request in the last 24 h",
        [{"field": "header.idempotency-key", "message": "already used"}],
    ),
    "storage-unavailable": ("the database did not answer; try again", []),
}


def problem(kind: str) -> dict[str, Any]:
    """An example problem document of ``kind``."""
    status, title = errors.PROBLEM_TYPES[kind]
    detail, field_errors = PROBLEM_DETAILS[kind]
    return {
        "type": errors.PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": field_errors,
    }
