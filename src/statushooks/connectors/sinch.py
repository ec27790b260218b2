"""Sinch SMS REST API delivery reports: a ``recipient_delivery_report_sms`` object per
recipient (``batch_id``, ``status``, ``code``, ``at``), or a full ``delivery_report_sms`` of a
batch (``statuses[]`` with their ``recipients``). Sinch authenticates its callbacks with HTTP
basic auth (configured by Sinch on the account); it retries 5xx and 429 answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

STATUSES: dict[str, MessageStatus | None] = {
    "Queued": None,
    "Dispatched": MessageStatus.SENT,
    "Delivered": MessageStatus.DELIVERED,
    "Aborted": MessageStatus.FAILED,
    "Cancelled": MessageStatus.FAILED,
    "Rejected": MessageStatus.FAILED,
    "Deleted": MessageStatus.UNDELIVERED,
    "Failed": MessageStatus.UNDELIVERED,
    "Expired": MessageStatus.UNDELIVERED,
    "Unknown": None,
}


def _receipt(batch_id: str, status: Mapping[str, Any], at: Any) -> base.Receipt | None:
    raw = base.text(status.get("status"))
    if raw is None:
        return None
    mapped = STATUSES.get(raw)
    code = base.text(status.get("code"))
    return base.Receipt(
        provider_message_id=batch_id,
        status=mapped,
        raw_status=raw,
        error_code=code if code is not None and mapped is not MessageStatus.DELIVERED else None,
        occurred_at=base.when(at),
    )


def parse(request: base.Callback) -> base.Parsed:
    receipts: list[base.Receipt] = []
    for report in base.records(base.json_body(request)):
        batch_id = base.text(report.get("batch_id"))
        if batch_id is None:
            continue
        statuses = report.get("statuses")
        groups = statuses if isinstance(statuses, list) else [report]
        for group in groups:
            if isinstance(group, Mapping):
                receipt = _receipt(
                    batch_id, group, report.get("operator_status_at") or report.get("at")
                )
                if receipt is not None:
                    receipts.append(receipt)
    return base.Parsed(receipts=tuple(receipts))


PROVIDER = base.Provider(
    name="sinch",
    channels=frozenset({Channel.SMS}),
    required=("username", "password"),
    verify=base.verify_basic_auth,
    parse=parse,
    summary="callback_url on the batch (or the service's default) with basic auth, "
    "delivery_report per_recipient.",
)
