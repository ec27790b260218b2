"""Status reports (delivery receipts): one at a time or up to 1,000 in one transaction."""

from __future__ import annotations

from fastapi import APIRouter, Response

from statushooks import service
from statushooks.api import errors, schemas
from statushooks.api.deps import SenderDep

router = APIRouter(prefix="/v1", tags=["status reports"])


@router.post("/messages/{message_id}/status", response_model=schemas.StatusResultOut)
async def create_status_report(
    message_id: str, body: schemas.StatusReportIn, sender: SenderDep
) -> Response:
    """Apply one status report; a late or duplicate one answers ``changed: false``."""
    report = body.report(message_id)
    account_id = sender.account_id
    return await sender.idem.run(
        account_id,
        lambda key: sender.svc.report_status(account_id, message_id, report, idempotency=key),
        schemas.StatusResultOut.of,
        status_code=200,
    )


@router.post("/status-reports", response_model=schemas.BulkResultOut)
async def create_status_reports(body: schemas.BulkReports, sender: SenderDep) -> Response:
    """Apply up to 1,000 reports in one transaction, with a result per item, in order."""
    reports = [item.report(item.message_id) for item in body.reports]

    def present(results: list[service.BulkItemResult]) -> schemas.BulkResultOut:
        return schemas.BulkResultOut(results=[_item(result) for result in results])

    account_id = sender.account_id
    return await sender.idem.run(
        account_id,
        lambda key: sender.svc.report_statuses(account_id, reports, idempotency=key),
        present,
        status_code=200,
    )


def _item(item: service.BulkItemResult) -> schemas.BulkItemOut:
    if item.result is None:
        assert item.error is not None
        kind = errors.kind_of(item.error)
        status, title = errors.PROBLEM_TYPES[kind]
        item_errors = getattr(item.error, "errors", ())
        problem = schemas.ItemProblem(
            type=errors.PROBLEM_BASE + kind,
            title=title,
            status=status,
            detail=item.error.message,
            errors=[dict(error) for error in item_errors],
        )
        return schemas.BulkItemOut(
            message_id=item.message_id, ok=False, changed=False, events=[], error=problem
        )
    return schemas.BulkItemOut(
        message_id=item.message_id,
        ok=True,
        changed=item.result.changed,
        events=[event.id for event in item.result.events],
        error=None,
    )
