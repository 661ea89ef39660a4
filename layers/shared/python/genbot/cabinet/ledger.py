"""``GET /ledger``: the caller's ledger, newest first, one Query of the ``by_time`` index a page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from genbot.cabinet.auth import Caller, CurrentCaller
from genbot.cabinet.paging import DEFAULT_LIMIT, CursorParam, LimitParam, next_cursor, start_key
from genbot.i18n import translate
from genbot.ledger.labels import kind_label
from genbot.store.models import LedgerEntry

router = APIGatewayHttpRouter()

SCOPE = "ledger"
KEY_FIELDS: dict[str, type] = {"op_id": str, "created_at": int}


class Entry(BaseModel):
    op_id: str
    delta: int
    kind: str
    label: str
    note: str | None
    created_at: datetime


class LedgerPage(BaseModel):
    items: list[Entry]
    next_cursor: str | None


def _exclusive_start(user_id: int, key: dict[str, Any] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {
        "user_id": {"N": str(user_id)},
        "op_id": {"S": key["op_id"]},
        "created_at": {"N": str(key["created_at"])},
    }


def page(caller: Caller, cursor: str | None, limit: int) -> LedgerPage:
    """``limit`` entries from the cursor on; one more is read to know whether a next page exists."""
    start = start_key(caller, SCOPE, cursor, KEY_FIELDS)
    found = list(
        LedgerEntry.by_time.query(
            caller.user_id,
            scan_index_forward=False,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=_exclusive_start(caller.user_id, start),
        )
    )
    entries, more = found[:limit], len(found) > limit
    last = entries[-1] if more else None
    key = None if last is None else {"op_id": str(last.op_id), "created_at": int(last.created_at)}
    return LedgerPage(
        items=[
            Entry(
                op_id=str(e.op_id),
                delta=int(e.delta),
                kind=str(e.kind),
                label=translate(kind_label(str(e.kind)), caller.language),
                note=e.note,
                created_at=datetime.fromtimestamp(int(e.created_at) / 1000, UTC),
            )
            for e in entries
        ],
        next_cursor=next_cursor(caller, SCOPE, key),
    )


@router.get("/ledger", summary="The caller's ledger, newest first")
def ledger(
    caller: CurrentCaller, cursor: CursorParam = None, limit: LimitParam = DEFAULT_LIMIT
) -> LedgerPage:
    """Each balance change with its cause in words (``label``, in the caller's language)."""
    return page(caller, cursor, limit)
