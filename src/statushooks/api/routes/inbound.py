"""Inbound SMS, the suppression list and the opt-out keywords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from statushooks import sms
from statushooks.api import schemas
from statushooks.api.deps import AccountId, IdempotencyDep, ServiceDep, StoreDep
from statushooks.inbound import Keywords
from statushooks.storage.transaction import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

router = APIRouter(prefix="/v1", tags=["inbound"])
PhoneNumberPath = Annotated[
    str, Path(max_length=16, pattern=sms.E164_PATTERN.pattern, description="An E.164 number")
]


@router.post("/inbound-sms", status_code=201, response_model=schemas.InboundSmsOut)
async def create_inbound_sms(
    body: schemas.InboundSmsCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Take in a text received from a phone number: emits the inbound events; an opt-out
    keyword also suppresses the sender (and emits the opt-out event), an opt-in keyword lifts
    that."""
    received = svc.new_inbound_sms(
        account_id, sender=body.sender, to=body.to, text=body.text, received_at=body.received_at
    )
    return await idem.run(
        account_id,
        lambda key: svc.receive_inbound_sms(received, idempotency=key),
        schemas.InboundSmsOut.of,
        status_code=201,
    )


@router.get("/suppressions", response_model=schemas.Page[schemas.SuppressionOut])
async def read_suppressions(
    account_id: AccountId,
    store: StoreDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (1–250)")
    ] = DEFAULT_PAGE_SIZE,
    after: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=sms.E164_PATTERN.pattern,
            description="The `next_cursor` of the previous page",
        ),
    ] = None,
) -> schemas.Page[schemas.SuppressionOut]:
    """The account's suppressed numbers, in descending order of number."""
    page = await store.read(lambda tx: tx.list_suppressions(account_id, limit=limit, after=after))
    return schemas.page_of(page, schemas.SuppressionOut.model_validate)


@router.post("/suppressions", status_code=201, response_model=schemas.SuppressionOut)
async def create_suppression(
    body: schemas.SuppressionCreate, account_id: AccountId, svc: ServiceDep, idem: IdempotencyDep
) -> Response:
    """Put a number on the suppression list: an SMS to it fails at once
    (``recipient_opted_out``). A number already on it is answered as it is."""
    return await idem.run(
        account_id,
        lambda key: svc.add_suppression(account_id, body.phone_number, idempotency=key),
        lambda added: schemas.SuppressionOut.model_validate(added[0]),
        status_code=201,
    )


@router.get("/suppressions/{phone_number}", response_model=schemas.SuppressionOut)
async def read_suppression(
    phone_number: PhoneNumberPath, account_id: AccountId, svc: ServiceDep
) -> schemas.SuppressionOut:
    """One suppressed number; 404 if it is not on the list."""
    return schemas.SuppressionOut.model_validate(
        await svc.get_suppression(account_id, phone_number)
    )


@router.delete("/suppressions/{phone_number}", status_code=204)
async def delete_suppression(
    phone_number: PhoneNumberPath, account_id: AccountId, svc: ServiceDep
) -> Response:
    """Take a number off the suppression list; 404 if it is not on it."""
    await svc.remove_suppression(account_id, phone_number)
    return Response(status_code=204)


@router.get("/sms-keywords", response_model=schemas.SmsKeywordsOut)
async def read_sms_keywords(account_id: AccountId, svc: ServiceDep) -> schemas.SmsKeywordsOut:
    """The account's opt-out and opt-in keywords (the CTIA defaults unless it set its own)."""
    return _keywords_out(await svc.sms_keywords(account_id))


@router.put("/sms-keywords", response_model=schemas.SmsKeywordsOut)
async def update_sms_keywords(
    body: schemas.SmsKeywords, account_id: AccountId, svc: ServiceDep
) -> schemas.SmsKeywordsOut:
    """Replace the account's opt-out and opt-in keywords; no word may be in both lists."""
    keywords = await svc.set_sms_keywords(account_id, opt_out=body.opt_out, opt_in=body.opt_in)
    return _keywords_out(keywords)


def _keywords_out(keywords: Keywords) -> schemas.SmsKeywordsOut:
    return schemas.SmsKeywordsOut(opt_out=list(keywords.opt_out), opt_in=list(keywords.opt_in))
