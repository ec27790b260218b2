"""The SQL schema: SQLAlchemy Core tables only — never returned by the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return sqlite_datetime_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return sqlite_datetime_value
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_datetime_text(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite storage format (``2026-11-25 00:10:03.000000``, UTC), in one C call:
    its own processor formats in Python and was ~5 % of the dispatcher's CPU (py-spy)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_datetime_value(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


ID = sa.String(40)
#: Deliveries not finished yet (``pending``, ``leased``): the predicate of a partial index.
OPEN_STATES = sa.text("state IN ('pending', 'leased')")
#: Deliveries stored ``pending`` (due, scheduled, or under a heap-only lease).
PENDING_STATE = sa.text("state = 'pending'")
DELIVERIES_FILLFACTOR = 40
#: Messages with a provider's id (a partial index's predicate).
HAS_PROVIDER_ID = sa.text("provider_message_id IS NOT NULL")
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)


def _created_updated() -> tuple[sa.Column[Any], sa.Column[Any]]:
    return (
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: ``accounts.PortalSettings`` as JSON; NULL: the defaults.
    sa.Column("portal", sa.JSON()),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("enabled_events", sa.JSON(), nullable=False),
    sa.Column("statuses", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("disabled_reason", sa.Text()),
    #: ``[{"value": "whsec_…", "expires_at": iso | null}]``, newest first.
    sa.Column("secrets", sa.JSON(), nullable=False),
    sa.Column("max_in_flight", sa.Integer(), nullable=False),
    sa.Column("rate_limit", sa.Float()),
    sa.Column("ordered", sa.Boolean(), nullable=False),
    sa.Column("metadata", sa.JSON(), nullable=False),
    sa.Column("failing_since", UTCDateTime()),
    #: The burst suspension (``statushooks.suspension``): failed attempts since the last
    #: success or suspension and when the first was made, suspensions in a row, and until when
    #: the claim leaves it alone.
    sa.Column("failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("failures_since", UTCDateTime()),
    sa.Column("suspensions", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("suspended_until", UTCDateTime()),
    *_created_updated(),
    #: Send each attempt's W3C ``traceparent`` to the receiver (``tracing``).
    sa.Column("send_traceparent", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("verification", sa.String(16), nullable=False, server_default="none"),
    sa.Column("verified_at", UTCDateTime()),
    sa.Column("verification_error", sa.Text()),
    sa.Column("verified_origin", sa.String(255)),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("to", sa.String(320), nullable=False),
    sa.Column("sender", sa.String(320)),
    sa.Column("text", sa.Text()),
    sa.Column("html", sa.Text()),
    sa.Column("subject", sa.Text()),
    sa.Column("verification_code", sa.String(32)),
    sa.Column("language", sa.String(16)),
    sa.Column("custom_id", sa.String(200)),
    sa.Column("correlation_id", sa.String(200)),
    sa.Column("transaction_id", ID, nullable=False),
    sa.Column("scheduled_at", UTCDateTime()),
    sa.Column("list_id", sa.String(200)),
    sa.Column("campaign_id", sa.String(200)),
    sa.Column("campaign_name", sa.String(200)),
    sa.Column("error_code", sa.String(200)),
    sa.Column("error_message", sa.Text()),
    sa.Column("segments", sa.Integer(), nullable=False),
    sa.Column("region_code", sa.String(2)),
    #: Decimal as text: exact on both databases.
    sa.Column("price", sa.String(32)),
    sa.Column("currency", sa.String(3)),
    sa.Column("last_sequence", sa.Integer(), nullable=False),
    *_created_updated(),
    sa.Column("provider", sa.String(40)),
    sa.Column("provider_message_id", sa.String(200)),
    sa.Index("ix_messages_account_id_id", "account_id", "id"),
    #: A connector's look-up of a receipt's message; messages without a provider id are not
    #: in it, so submitting one writes nothing more.
    sa.Index(
        "ix_messages_provider_ref",
        "account_id",
        "provider",
        "provider_message_id",
        postgresql_where=HAS_PROVIDER_ID,
        sqlite_where=HAS_PROVIDER_ID,
    ),
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("message_id", ID, sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("error_code", sa.String(200)),
    sa.Column("error_message", sa.Text()),
    sa.Column("detail", sa.JSON()),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("message_id", ID, sa.ForeignKey("messages.id"), index=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("sequence", sa.Integer(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_events_account_id_id", "account_id", "id"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("event_id", ID, sa.ForeignKey("events.id"), nullable=False, index=True),
    sa.Column("endpoint_id", ID, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("message_id", ID),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("sequence", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("lease_owner", sa.String(100)),
    sa.Column("lease_id", sa.String(40)),
    sa.Column("lease_expires_at", UTCDateTime()),
    sa.Column("last_response_status", sa.Integer()),
    sa.Column("last_error", sa.Text()),
    *_created_updated(),
    sa.Column("completed_at", UTCDateTime()),
    #: The W3C traceparent of the request that caused the event (tracing on), else NULL.
    sa.Column("traceparent", sa.String(55)),
    #: The dispatcher's per-endpoint claim: due pending rows in order, and in-flight counts.
    sa.Index("ix_deliveries_endpoint_due", "endpoint_id", "state", "next_attempt_at"),
    sa.Index("ix_deliveries_account_id_id", "account_id", "id"),
    #: The ordered-endpoint check: is an earlier delivery of the message still open?
    sa.Index(
        "ix_deliveries_open_order",
        "endpoint_id",
        "message_id",
        "sequence",
        postgresql_where=OPEN_STATES,
        sqlite_where=OPEN_STATES,
    ),
    #: The claim's ring (``storage.queue``): the endpoints with pending deliveries, one probe
    #: each in id order, and each one's pending rows in due order. A lease writes none of it.
    sa.Index(
        "ix_deliveries_pending",
        "endpoint_id",
        "next_attempt_at",
        postgresql_where=PENDING_STATE,
        sqlite_where=PENDING_STATE,
    ),
    #: Room on each page for a row's leased version: a lease (the lease columns only, in no
    #: index) is then a HOT update (``storage.queue``). Measured: at 70 about 40 % of leases
    #: were heap-only, at 40 all of them.
    postgresql_with={"fillfactor": DELIVERIES_FILLFACTOR},
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    #: No foreign key: the queue inserts an attempt only for a lease its statement found held.
    sa.Column("delivery_id", ID, nullable=False, index=True),
    sa.Column("endpoint_id", ID, nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Float(), nullable=False),
    sa.Column("request_headers", sa.JSON(), nullable=False),
    sa.Column("response_status", sa.Integer()),
    sa.Column("response_body", sa.Text(), nullable=False),
    sa.Column("error_kind", sa.String(32)),
    sa.Column("error_message", sa.Text()),
    sa.Index("ix_attempts_endpoint_started", "endpoint_id", "started_at"),
)

#: The backlog (deliveries stored ``pending``: waiting or in flight) of each account, sampled
#: once a minute by the running service (``statushooks.backlog``), for the dashboard's chart.
#: ``minute`` counts minutes since the Unix epoch (UTC): a chart groups its rows into buckets
#: with integer arithmetic, the same on both databases. Each round writes a row for every
#: account with a backlog and one for ``TOTAL_ACCOUNT`` (all accounts), so an account without
#: a row in a round had none, and a minute without a ``'*'`` row was not sampled (no service
#: ran). No foreign key: retention deletes samples by age (``ix_backlog_samples_minute``).
TOTAL_ACCOUNT = "*"
backlog_samples = sa.Table(
    "backlog_samples",
    metadata,
    sa.Column("account_id", ID, primary_key=True),
    sa.Column("minute", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("backlog", sa.Integer(), nullable=False),
    sa.Index("ix_backlog_samples_minute", "minute"),
)

#: Live dispatcher workers (``storage.queue``): each serves a share of every endpoint's
#: ``max_in_flight``; a row expires unless its worker renews it.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

#: Phone numbers an account must not send SMS to (opt-outs, and numbers added by hand).
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("phone_number", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("keyword", sa.String(32)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: An account's own opt-out and opt-in keywords (none: the defaults, ``inbound.Keywords``).
sms_keywords = sa.Table(
    "sms_keywords",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("opt_out", sa.JSON(), nullable=False),
    sa.Column("opt_in", sa.JSON(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("message_id", ID, sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("account_id", ID, primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response_status", sa.Integer()),
    sa.Column("response_body", sa.LargeBinary()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: Retention deletes the keys past their lifetime, oldest first, a batch at a time.
    sa.Index("ix_idempotency_keys_created_at", "created_at"),
)


#: Providers' callbacks in (``statushooks.connectors``); ``credentials`` is sealed
#: (``connectors.sealing``), never returned.
connectors = sa.Table(
    "connectors",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("provider", sa.String(40), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("credentials", sa.Text(), nullable=False),
    *_created_updated(),
)

#: Receipts for a provider id no message of the account carries yet: applied when one does.
#: ``fingerprint`` makes a provider's retry of the same receipt one row.
unmatched_receipts = sa.Table(
    "unmatched_receipts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("connector_id", ID, nullable=False),
    sa.Column("provider", sa.String(40), nullable=False),
    sa.Column("provider_message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("raw_status", sa.String(100), nullable=False),
    sa.Column("error_code", sa.String(200)),
    sa.Column("error_message", sa.Text()),
    sa.Column("occurred_at", UTCDateTime()),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.UniqueConstraint("account_id", "fingerprint", name="uq_unmatched_receipts_fingerprint"),
    sa.Index("ix_unmatched_receipts_ref", "account_id", "provider", "provider_message_id"),
    sa.Index("ix_unmatched_receipts_account_id_id", "account_id", "id"),
)
