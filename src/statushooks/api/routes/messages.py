"""Messages: submit an SMS, an email or a voice call; read them back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import APIRouter, Response

from statushooks.api import queries, schemas
from statushooks.api.deps import AccountId, Paging, Sender, SenderDep, ServiceDep, StoreDep
from statushooks.messages import Message

router = APIRouter(prefix="/v1", tags=["messages"])


@router.post("/sms", status_code=201, response_model=schemas.MessageOut)
async def create_sms(body: schemas.SmsCreate, sender: SenderDep) -> Response:
    """Submit an SMS; emits its ``submitted`` events."""
    fields = body.model_dump(exclude={"to", "sender", "text", "track_links"})
    submit = partial(
        sender.svc.submit_sms,
        sender.account_id,
        to=body.to,
        sender=body.sender,
        text=body.text,
        track_links=body.track_links,
        **fields,
    )
    return await _submitted(sender, submit)


@router.post("/email", status_code=201, response_model=schemas.MessageOut)
async def create_email(body: schemas.EmailCreate, sender: SenderDep) -> Response:
    """Submit an email; emits its ``submitted`` events."""
    submit = partial(
        sender.svc.submit_email,
        sender.account_id,
        to=body.to,
        sender=body.sender,
        subject=body.subject,
        text=body.text,
        html=body.html,
        custom_id=body.external_id,
        provider=body.provider,
        provider_message_id=body.provider_message_id,
    )
    return await _submitted(sender, submit)


@router.post("/voice", status_code=201, response_model=schemas.MessageOut)
async def create_voice(body: schemas.VoiceCreate, sender: SenderDep) -> Response:
    """Submit a voice verification call; emits its ``submitted`` events."""
    submit = partial(
        sender.svc.submit_voice,
        sender.account_id,
        to=body.to,
        verification_code=body.verification_code,
        language=body.language,
        custom_id=body.external_id,
        provider=body.provider,
        provider_message_id=body.provider_message_id,
    )
    return await _submitted(sender, submit)


async def _submitted(sender: Sender, submit: Callable[..., Awaitable[Message]]) -> Response:
    """``submit()``'s new message as a 201, once per idempotency key."""
    return await sender.idem.run(
        sender.account_id,
        lambda key: submit(idempotency=key),
        schemas.MessageOut.of,
        status_code=201,
    )


@router.get("/messages", response_model=schemas.Page[schemas.MessageOut])
async def read_messages(
    account_id: AccountId, store: StoreDep, paging: Paging
) -> schemas.Page[schemas.MessageOut]:
    """The account's messages, newest first."""
    page = await queries.list_messages(store, account_id, limit=paging.limit, after=paging.after)
    return schemas.page_of(page, schemas.MessageOut.of)


@router.get("/messages/{message_id}", response_model=schemas.MessageDetail)
async def read_message(
    message_id: str, account_id: AccountId, svc: ServiceDep
) -> schemas.MessageDetail:
    """One message with its status history and its events."""
    message, history, events = await svc.get_message(account_id, message_id)
    return schemas.MessageDetail.detail(message, history, events)
