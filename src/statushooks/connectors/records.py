"""The connector records: a connector as stored, and a receipt kept until its message exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from statushooks.messages import MessageStatus


@dataclass(frozen=True, kw_only=True)
class Connector:
    """A provider's callbacks into one account. ``credentials`` is sealed
    (``connectors.sealing``) and never leaves the server."""

    id: str
    account_id: str
    provider: str
    name: str
    credentials: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class UnmatchedReceipt:
    """A receipt for a provider id no message of the account carried when it came."""

    id: str
    account_id: str
    connector_id: str
    provider: str
    provider_message_id: str
    status: MessageStatus
    raw_status: str
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    #: The same receipt again (a provider's retry) has the same fingerprint: one row.
    fingerprint: str


def fingerprint(
    provider: str,
    provider_message_id: str,
    raw_status: str,
    error_code: str | None,
    occurred_at: datetime | None,
) -> str:
    """What makes two receipts the same one."""
    parts = (
        provider,
        provider_message_id,
        raw_status,
        error_code or "",
        occurred_at.isoformat() if occurred_at else "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
