"""Messages: submit an SMS, an email or a voice call; read them back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import APIRouter, Response

from statushooks.api import queries, schemas
from statushooks.api.deps import AccountId, IdempotencyDep, Paging, ServiceDep, StoreDep
from statushooks.messages import Message

router = APIRouter(prefix="/v1", tags=["messages"])


@router.post("/sms", status_code=201, response_model=schemas.MessageOut)
async def create_sms(
    body: schemas.SmsCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Submit an SMS; emits its ``submitted`` events."""
    fields = body.model_dump(exclude={"to", "sender", "text", "track_links"})
    submit = partial(
        svc.submit_sms,
        account_id,
        to=body.to,
        sender=body.sender,
        text=body.text,
        track_links=body.track_links,
        **fields,
    )
    return await _submitted(account_id, idem, submit)


@router.post("/email", status_code=201, response_model=schemas.MessageOut)
async def create_email(
    body: schemas.EmailCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Submit an email; emits its ``submitted`` events."""
    submit = partial(
        svc.submit_email,
        account_id,
        to=body.to,
        sender=body.sender,
        subject=body.subject,
        text=body.text,
        html=body.html,
        custom_id=body.external_id,
    )
    return await _submitted(account_id, idem, submit)


@router.post("/voice", status_code=201, response_model=schemas.MessageOut)
async def create_voice(
    body: schemas.VoiceCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Submit a voice verification call; emits its ``submitted`` events."""
    submit = partial(
        svc.submit_voice,
        account_id,
        to=body.to,
        verification_code=body.verification_code,
        language=body.language,
        custom_id=body.external_id,
    )
    return await _submitted(account_id, idem, submit)


async def _submitted(
    account_id: str, idem: IdempotencyDep, submit: Callable[..., Awaitable[Message]]
) -> Response:
    """``submit()``'s new message as a 201, once per idempotency key."""
    return await idem.run(
        account_id,
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
