"""Connectors over the real store, on SQLite and PostgreSQL: receipts found by the provider's
id within the account, applied once, kept when early and applied when the message comes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from connector_support import SES_DELIVERY, certificate, sns_message
from statushooks import exceptions, service
from statushooks.connectors.records import Connector
from statushooks.messages import MessageStatus
from statushooks.service import EndpointSpec, Service, StatusReport
from statushooks.storage import driver, transaction
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

TOKEN = "12345678901234567890123456789012"
TO = "+447810000001"


async def account_with_endpoint(svc: Service) -> str:
    account_id = (await svc.create_account("acme")).account.id
    await svc.create_endpoint(account_id, EndpointSpec(url="http://127.0.0.1:9/hook"))
    return account_id


async def twilio_connector(svc: Service, account_id: str) -> Connector:
    return await svc.create_connector(
        account_id, provider="twilio", name="Twilio", credentials={"auth_token": TOKEN}
    )


def twilio_callback(
    svc: Service, connector: Connector, token: str = TOKEN, **params: str
) -> dict[str, Any]:
    """The arguments of ``receive_callback`` for a Twilio status callback, signed."""
    url = svc.callback_url(connector.id)
    signature = RequestValidator(token).compute_signature(url, params)
    return {
        "method": "POST",
        "query": "",
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        "body": urlencode(params).encode(),
    }


async def events_of(svc: Service, account_id: str, message_id: str) -> list[str]:
    _, _, events = await svc.get_message(account_id, message_id)
    return [f"{event.type}:{event.status.value}" for event in events]


async def test_credentials_are_sealed_in_the_database(svc: Service, store: Store) -> None:
    """The stored column holds no plaintext; the record the API shows carries none either."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)

    def raw(tx: Transaction) -> str:
        return str(tx.conn.execute(sa.text("SELECT credentials FROM connectors")).scalar_one())

    stored = await store.read(raw)
    assert TOKEN not in stored and stored == connector.credentials
    assert svc.sealer.open(stored) == {"auth_token": TOKEN}


async def test_receipt_applies_once_and_keeps_the_providers_words(svc: Service) -> None:
    """A Twilio callback moves the message found by its MessageSid; the same callback again
    changes and emits nothing; the history keeps Twilio's status and error code."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    message = await svc.submit_sms(
        account_id, to=TO, sender="Acme", text="hi", provider="twilio", provider_message_id="SM1"
    )
    request = twilio_callback(
        svc, connector, MessageSid="SM1", MessageStatus="undelivered", ErrorCode="30003"
    )
    first = await svc.receive_callback(connector.id, **request)
    assert first == service.CallbackResult(received=1, applied=1)
    before = await events_of(svc, account_id, message.id)
    again = await svc.receive_callback(connector.id, **request)
    assert again == service.CallbackResult(received=1, unchanged=1)
    assert await events_of(svc, account_id, message.id) == before
    stored, history, _ = await svc.get_message(account_id, message.id)
    assert stored.status is MessageStatus.UNDELIVERED and stored.error_code == "30003"
    assert [h.status for h in history] == [MessageStatus.SUBMITTED, MessageStatus.UNDELIVERED]
    assert history[-1].detail == {
        "provider": "twilio",
        "connector_id": connector.id,
        "provider_message_id": "SM1",
        "raw_status": "undelivered",
    }


async def test_a_bad_signature_changes_nothing(svc: Service) -> None:
    """Another token's signature is refused before anything is read or kept."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    message = await svc.submit_sms(
        account_id, to=TO, sender="Acme", text="hi", provider="twilio", provider_message_id="SM1"
    )
    for token in ("wrong-token", None):
        request = twilio_callback(
            svc, connector, token or TOKEN, MessageSid="SM1", MessageStatus="delivered"
        )
        if token is None:
            del request["headers"]["X-Twilio-Signature"]
        with pytest.raises(exceptions.SignatureError):
            await svc.receive_callback(connector.id, **request)
    stored, history, _ = await svc.get_message(account_id, message.id)
    assert stored.status is MessageStatus.SUBMITTED and len(history) == 1
    page = await svc.list_unmatched(account_id, limit=10, after=None)
    assert page.data == []


async def test_early_receipt_is_kept_then_applied_when_the_message_is_recorded(
    svc: Service,
) -> None:
    """A receipt that beats the send API's answer is kept (once, however often retried) and
    applied when the message is recorded with that id: the message answers ``delivered``."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    for status in ("sent", "delivered", "delivered"):
        request = twilio_callback(svc, connector, MessageSid="SM9", MessageStatus=status)
        result = await svc.receive_callback(connector.id, **request)
        assert result.unmatched == 1
    kept = (
        await svc.list_unmatched(account_id, connector_id=connector.id, limit=10, after=None)
    ).data
    assert sorted(r.raw_status for r in kept) == ["delivered", "sent"]
    message = await svc.submit_sms(
        account_id, to=TO, sender="Acme", text="hi", provider="twilio", provider_message_id="SM9"
    )
    assert message.status is MessageStatus.DELIVERED
    _, history, _ = await svc.get_message(account_id, message.id)
    assert [h.status for h in history] == [
        MessageStatus.SUBMITTED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
    ]
    assert (await svc.list_unmatched(account_id, limit=10, after=None)).data == []
    assert await events_of(svc, account_id, message.id) == [
        "com.interact.messages.sms.status:submitted",
        "com.interact.messages.sms.status:delivered",
        "sms.message.updated:delivered",
    ]


async def test_provider_id_given_with_a_status_report_claims_kept_receipts(svc: Service) -> None:
    """A platform that learns the provider's id later reports it; kept receipts then apply."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    message = await svc.submit_sms(account_id, to=TO, sender="Acme", text="hi")
    request = twilio_callback(svc, connector, MessageSid="SM5", MessageStatus="delivered")
    assert (await svc.receive_callback(connector.id, **request)).unmatched == 1
    result = await svc.report_status(
        account_id,
        message.id,
        StatusReport(
            message_id=message.id,
            status=MessageStatus.SENT,
            provider="twilio",
            provider_message_id="SM5",
        ),
    )
    assert result.message.provider_message_id == "SM5"
    stored, history, _ = await svc.get_message(account_id, message.id)
    assert (stored.provider, stored.provider_message_id) == ("twilio", "SM5")
    assert stored.status is MessageStatus.DELIVERED
    assert [h.status for h in history][-2:] == [MessageStatus.SENT, MessageStatus.DELIVERED]
    again = await svc.receive_callback(connector.id, **request)
    assert again == service.CallbackResult(received=1, unchanged=1)


async def test_receipts_find_messages_of_the_connectors_account_only(svc: Service) -> None:
    """Another account's message with the same provider id is not touched."""
    other = await account_with_endpoint(svc)
    theirs = await svc.submit_sms(
        other, to=TO, sender="Acme", text="hi", provider="twilio", provider_message_id="SM1"
    )
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    request = twilio_callback(svc, connector, MessageSid="SM1", MessageStatus="delivered")
    assert (await svc.receive_callback(connector.id, **request)).unmatched == 1
    stored, _, _ = await svc.get_message(other, theirs.id)
    assert stored.status is MessageStatus.SUBMITTED
    assert (await svc.list_unmatched(other, limit=10, after=None)).data == []


async def test_a_100_result_infobip_batch_is_one_transaction(
    svc: Service, store: Store, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write for the whole batch (the connector is read once, then remembered), with
    the statements of a one-result batch; an email's UNDELIVERABLE is ``failed`` (email has
    no ``undelivered``)."""
    account_id = await account_with_endpoint(svc)
    connector = await svc.create_connector(
        account_id,
        provider="infobip",
        name="Infobip",
        credentials={"username": "u", "password": "p"},
    )
    sms_ids = [f"ib-{n}" for n in range(100)]
    for provider_id in sms_ids:
        await svc.submit_sms(
            account_id,
            to=TO,
            sender="Acme",
            text="hi",
            provider="infobip",
            provider_message_id=provider_id,
        )
    email = await svc.submit_email(
        account_id,
        to="ada@example.com",
        sender="a@acme.example",
        subject="Hi",
        text="x",
        provider="infobip",
        provider_message_id="ib-email",
    )
    results = [
        {
            "messageId": provider_id,
            "doneAt": "2019-11-09T16:00:00.000+0000",
            "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"},
        }
        for provider_id in sms_ids[:99]
    ] + [
        {
            "messageId": "ib-email",
            "status": {"groupName": "UNDELIVERABLE", "name": "UNDELIVERABLE_NOT_DELIVERED"},
            "error": {"id": 27, "description": "Absent Subscriber"},
        }
    ]
    svc.connector_cache.clear()
    reads, writes = counting(store, "read", monkeypatch), counting(store, "write", monkeypatch)
    callback = {
        "method": "POST",
        "query": "",
        "headers": {"Authorization": "Basic dTpw", "Content-Type": "application/json"},
        "body": orjson.dumps({"results": results}),
    }
    statements.clear()
    result = await svc.receive_callback(connector.id, **callback)
    assert result == service.CallbackResult(received=100, applied=100)
    assert (reads(), writes()) == (1, 1)
    hundred = len(statements)
    again = await svc.receive_callback(connector.id, **callback)
    assert again == service.CallbackResult(received=100, unchanged=100)
    assert (reads(), writes()) == (1, 2)  # the connector is remembered: one write only
    stored, _, _ = await svc.get_message(account_id, email.id)
    assert (stored.status, stored.error_code) == (MessageStatus.FAILED, "27")
    svc.connector_cache.clear()
    statements.clear()
    one = {**callback, "body": orjson.dumps({"results": [{**results[0], "messageId": "ib-99"}]})}
    assert (await svc.receive_callback(connector.id, **one)).applied == 1
    assert len(statements) == hundred


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement the database is sent from here on, in order (the driver SQL of
    ``storage.driver`` and SQLAlchemy's own), whitespace folded."""
    seen: list[str] = []
    original = driver.run_on_cursor

    def on_cursor(conn: sa.Connection, text: str, params: Any, *, many: bool = False) -> Any:
        seen.append(" ".join(text.split()))
        return original(conn, text, params, many=many)

    def on_execute(*args: Any) -> None:  # (conn, cursor, statement, parameters, …)
        seen.append(" ".join(args[2].split()))

    monkeypatch.setattr(driver, "run_on_cursor", on_cursor)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", on_execute)


async def test_a_callback_runs_the_statements_of_a_status_report(
    svc: Service, statements: list[str]
) -> None:
    """One receipt through a connector (remembered: its first callback read it) sends the
    database what one status report does: the message read by the provider's id instead of
    ours, then the same writes, in one transaction."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    sids = ["SM0", "SM1", "SM2"]
    made = {}
    for sid in sids:
        made[sid] = await svc.submit_sms(
            account_id, to=TO, sender="Acme", text="hi", provider="twilio", provider_message_id=sid
        )
    first = twilio_callback(svc, connector, MessageSid=sids[0], MessageStatus="sent")
    assert (await svc.receive_callback(connector.id, **first)).applied == 1
    statements.clear()
    await svc.report_status(account_id, made[sids[1]].id, status=MessageStatus.DELIVERED)
    report = list(statements)
    statements.clear()
    request = twilio_callback(svc, connector, MessageSid=sids[2], MessageStatus="delivered")
    assert (await svc.receive_callback(connector.id, **request)).applied == 1
    callback = list(statements)
    assert len(callback) == len(report)
    differ = [(r, c) for r, c in zip(report, callback, strict=True) if r != c]
    assert len(differ) == 1 and "provider_message_id" in differ[0][1]


async def test_a_receipts_message_is_looked_up_by_its_provider_id(
    svc: Service, store: Store
) -> None:
    """One receipt's message is found through the provider-id index (its id in the index
    condition), not by walking the account's messages, whatever the database's statistics
    (a list of ids with ``ORDER BY id`` walks them on PostgreSQL before its first ANALYZE)."""
    account_id = await account_with_endpoint(svc)
    for n in range(300):
        await svc.submit_sms(account_id, to=TO, sender="Acme", text="hi", provider="twilio",
                             provider_message_id=f"SM{n}")  # fmt: skip

    def plan(tx: Transaction) -> str:
        sql = tx.db.text(transaction._BY_PROVIDER_ONE_FOR_UPDATE)
        if tx.db.is_sqlite:
            explained = tx.conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}", (account_id, "twilio", "SM7")
            )
            return " ".join(str(row[3]) for row in explained)
        tx.conn.exec_driver_sql(f"PREPARE probe AS {sql}")
        try:
            explained = tx.conn.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE probe('{account_id}', 'twilio', 'SM7')"
            )
            return str(explained.scalar_one())
        finally:
            tx.conn.exec_driver_sql("DEALLOCATE probe")

    found = await store.read(plan)
    assert "ix_messages_provider_ref" in found
    assert "ix_messages_account_id_id" not in found
    if store.dialect.is_postgres:
        assert "provider_message_id" in found.split("Index Cond", 1)[1].split("}", 1)[0]


def counting(store: Store, name: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls = 0
    original = getattr(store, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, name, counted)
    return lambda: calls


async def test_unmatched_receipts_are_bounded_oldest_first(
    svc: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the bound the oldest kept receipts go, with a warning saying how many."""
    monkeypatch.setattr(service, "MAX_UNMATCHED", 3)
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    with caplog.at_level(logging.WARNING, logger="statushooks.service"):
        for n in range(5):
            request = twilio_callback(svc, connector, MessageSid=f"SM{n}", MessageStatus="sent")
            await svc.receive_callback(connector.id, **request)
    kept = (await svc.list_unmatched(account_id, limit=10, after=None)).data
    assert [r.provider_message_id for r in kept] == ["SM4", "SM3", "SM2"]
    assert "unmatched receipts over 3 dropped" in caplog.text


async def test_connector_crud_and_tenancy(svc: Service) -> None:
    """Rename, re-key (checked against the provider's fields), delete; another account's
    connector is not found."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    renamed = await svc.update_connector(account_id, connector.id, name="Twilio EU")
    assert renamed.name == "Twilio EU" and renamed.credentials == connector.credentials
    with pytest.raises(exceptions.ValidationError):
        await svc.update_connector(account_id, connector.id, credentials={"token": "x"})
    rekeyed = await svc.update_connector(
        account_id, connector.id, credentials={"auth_token": "new-token"}
    )
    request = twilio_callback(svc, connector, MessageSid="SM1", MessageStatus="sent")
    with pytest.raises(exceptions.SignatureError):
        await svc.receive_callback(rekeyed.id, **request)
    other = (await svc.create_account("other")).account.id
    with pytest.raises(exceptions.NotFoundError):
        await svc.get_connector(other, connector.id)
    with pytest.raises(exceptions.NotFoundError):
        await svc.delete_connector(other, connector.id)
    await svc.delete_connector(account_id, connector.id)
    with pytest.raises(exceptions.NotFoundError):
        await svc.receive_callback(connector.id, **request)


async def test_provider_fields_come_together(svc: Service) -> None:
    account_id = await account_with_endpoint(svc)
    with pytest.raises(exceptions.ValidationError):
        await svc.submit_sms(account_id, to=TO, sender="A", text="x", provider_message_id="SM1")
    with pytest.raises(exceptions.ValidationError):
        await svc.submit_sms(
            account_id, to=TO, sender="A", text="x", provider="nexmo", provider_message_id="SM1"
        )


async def test_credentials_sealed_with_another_secret_refuse_callbacks(
    svc: Service, settings: Any
) -> None:
    """A server whose secret changed cannot read the credentials: callbacks are refused."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    moved = dataclasses.replace(svc, settings=settings.model_copy(update={"secret_key": "new"}))
    request = twilio_callback(svc, connector, MessageSid="SM1", MessageStatus="sent")
    with pytest.raises(exceptions.SignatureError, match="set them again"):
        await moved.receive_callback(connector.id, **request)


class RecordingFetcher:
    """Stands in for the HTTPS GET to AWS (tests never reach the internet): records each URL
    and answers the certificate it was given."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.body


async def test_ses_fetches_the_signing_certificate_once_from_aws_only(svc: Service) -> None:
    """Without a configured certificate the allow-listed SigningCertURL is fetched once and
    cached; a SigningCertURL elsewhere is refused and nothing is fetched."""
    key, pem = certificate()
    fetcher = RecordingFetcher(pem.encode())
    svc = dataclasses.replace(svc, fetch_aws=fetcher, certificates={})
    account_id = await account_with_endpoint(svc)
    connector = await svc.create_connector(account_id, provider="ses", name="SES", credentials={})
    message = await svc.submit_email(
        account_id,
        to="recipient@example.com",
        sender="sender@example.com",
        subject="Hi",
        text="x",
        provider="ses",
        provider_message_id=SES_DELIVERY["mail"]["messageId"],
    )
    body = orjson.dumps(sns_message(key, "2"))
    request = {"method": "POST", "query": "", "headers": {}, "body": body}
    assert (await svc.receive_callback(connector.id, **request)).applied == 1
    assert (await svc.receive_callback(connector.id, **request)).unchanged == 1
    assert fetcher.urls == [sns_message(key, "2")["SigningCertURL"]]
    stored, _, _ = await svc.get_message(account_id, message.id)
    assert stored.status is MessageStatus.DELIVERED
    evil = orjson.dumps(sns_message(key, "2", SigningCertURL="https://evil.example/cert.pem"))
    with pytest.raises(exceptions.ValidationError):
        await svc.receive_callback(connector.id, **{**request, "body": evil})
    assert len(fetcher.urls) == 1


async def test_sns_subscription_is_confirmed_on_aws_only(svc: Service) -> None:
    """A signed SubscriptionConfirmation is confirmed by fetching its allow-listed
    SubscribeURL; one pointing elsewhere is refused, nothing fetched."""
    key, pem = certificate()
    fetcher = RecordingFetcher(b"<ConfirmSubscriptionResponse/>")
    svc = dataclasses.replace(svc, fetch_aws=fetcher)
    account_id = await account_with_endpoint(svc)
    connector = await svc.create_connector(
        account_id, provider="ses", name="SES", credentials={"certificate": pem}
    )
    confirm = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336"
    fields = {
        "Type": "SubscriptionConfirmation",
        "Token": "2336",
        "SubscribeURL": confirm,
        "Message": "You have chosen to subscribe to the topic",
    }
    request = {
        "method": "POST",
        "query": "",
        "headers": {},
        "body": orjson.dumps(sns_message(key, "1", **fields)),
    }
    assert await svc.receive_callback(connector.id, **request) == service.CallbackResult(
        confirmed=True
    )
    assert fetcher.urls == [confirm]
    evil = sns_message(key, "1", **{**fields, "SubscribeURL": "https://169.254.169.254/x"})
    with pytest.raises(exceptions.ValidationError):
        await svc.receive_callback(connector.id, **{**request, "body": orjson.dumps(evil)})
    unsigned = {**sns_message(key, "1", **fields), "Signature": ""}
    with pytest.raises(exceptions.SignatureMissingError):
        await svc.receive_callback(connector.id, **{**request, "body": orjson.dumps(unsigned)})
    assert fetcher.urls == [confirm]


async def test_a_fetched_non_certificate_is_refused_and_not_kept(svc: Service) -> None:
    """An answer that is not a certificate refuses the callback (403) and is not cached."""
    key, _ = certificate()
    fetcher = RecordingFetcher(b"<Error>AccessDenied</Error>")
    svc = dataclasses.replace(svc, fetch_aws=fetcher, certificates={})
    account_id = await account_with_endpoint(svc)
    connector = await svc.create_connector(account_id, provider="ses", name="SES", credentials={})
    request = {
        "method": "POST",
        "query": "",
        "headers": {},
        "body": orjson.dumps(sns_message(key, "2")),
    }
    for _ in range(2):
        with pytest.raises(exceptions.SignatureError):
            await svc.receive_callback(connector.id, **request)
    assert len(fetcher.urls) == 2 and svc.certificates == {}


async def test_inbound_messages_are_taken_in_once(svc: Service) -> None:
    """A callback carrying an inbound SMS takes it in as ``POST /v1/inbound-sms`` would: a
    STOP puts the sender on the suppression list and emits the inbound and opt-out events. The
    provider's retry of it is a replay (its message id): nothing is taken or emitted twice. No
    receipt is kept for it."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    incoming = {
        "MessageSid": "SM7",
        "SmsStatus": "received",
        "From": "+15551112222",
        "To": "+15553334444",
        "Body": "STOP",
    }
    request = twilio_callback(svc, connector, **incoming)
    assert await svc.receive_callback(connector.id, **request) == service.CallbackResult(inbound=1)
    assert await svc.receive_callback(connector.id, **request) == service.CallbackResult()

    def read(tx: Transaction) -> tuple[list[str], list[str]]:
        suppressed = tx.list_suppressions(account_id).data
        events = tx.list_events(account_id).data
        return [s.phone_number for s in suppressed], sorted(event.type for event in events)

    suppressed, events = await svc.store.read(read)
    assert suppressed == ["+15551112222"]
    assert events == [
        "com.interact.messages.sms.inbound",  # on the wire: com.interact.messages.sms.status
        "com.interact.messages.sms.opt.out",
        "sms.inbound.received",
    ]
    assert (await svc.list_unmatched(account_id, limit=10, after=None)).data == []


async def test_an_inbound_handler_takes_the_messages_instead(svc: Service) -> None:
    """With an ``inbound_handler`` set, a callback's inbound messages go to it alone."""
    account_id = await account_with_endpoint(svc)
    connector = await twilio_connector(svc, account_id)
    incoming = {"MessageSid": "SM8", "SmsStatus": "received", "From": "+15551112222"}
    request = twilio_callback(svc, connector, **incoming, To="+15553334444", Body="hello")
    taken: list[tuple[str, str]] = []

    async def handler(owner: Connector, inbound: Any) -> int:
        taken.extend((owner.account_id, message.text) for message in inbound)
        return len(inbound)

    with_handler = dataclasses.replace(svc, inbound_handler=handler)
    result = await with_handler.receive_callback(connector.id, **request)
    assert result == service.CallbackResult(inbound=1)
    assert taken == [(account_id, "hello")]
    assert await svc.store.read(lambda tx: tx.list_events(account_id).data) == []
