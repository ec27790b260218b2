"""Infobip: SMS (and email) delivery reports, ``{"results": [...]}`` batches of up to
``maxBucketSize`` (100 by default), each with ``messageId``, ``status`` (``groupName``,
``name``) and ``error``. Infobip authenticates its calls with HTTP basic auth (the
subscription's security settings, or ``https://user:password@…`` in ``notifyUrl``). It retries
a non-2xx answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

#: ``status.groupName`` → ours.
STATUSES: dict[str, MessageStatus | None] = {
    "PENDING": MessageStatus.SENT,
    "DELIVERED": MessageStatus.DELIVERED,
    "UNDELIVERABLE": MessageStatus.UNDELIVERED,
    "EXPIRED": MessageStatus.UNDELIVERED,
    "REJECTED": MessageStatus.FAILED,
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _receipt(result: Mapping[str, Any]) -> base.Receipt | None:
    message_id = base.text(result.get("messageId"))
    status = _mapping(result.get("status"))
    group = base.text(status.get("groupName"))
    if message_id is None or group is None:
        return None
    error = _mapping(result.get("error"))
    error_id = base.text(error.get("id"))
    failed = error_id not in (None, "0")
    return base.Receipt(
        provider_message_id=message_id,
        status=STATUSES.get(group),
        raw_status=f"{group}:{status.get('name', '')}",
        error_code=error_id if failed else None,
        error_message=base.text(error.get("description") or error.get("name")) if failed else None,
        occurred_at=base.when(result.get("doneAt")),
    )


def parse(request: base.Callback) -> base.Parsed:
    results = base.records(base.json_body(request), "results")
    return base.Parsed(receipts=tuple(r for r in map(_receipt, results) if r is not None))


PROVIDER = base.Provider(
    name="infobip",
    channels=frozenset({Channel.SMS, Channel.EMAIL, Channel.VOICE}),
    required=("username", "password"),
    verify=base.verify_basic_auth,
    parse=parse,
    summary="notifyUrl (or a subscription) = callback_url with basic auth.",
)
