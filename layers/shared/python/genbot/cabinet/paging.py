"""Query parameters and helpers shared by the list routes (``ledger``, ``generations``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from genbot.cabinet import cursor as cursors
from genbot.cabinet.auth import Caller

DEFAULT_LIMIT = 20
MAX_LIMIT = 50

CursorParam = Annotated[
    str | None, Query(max_length=cursors.MAX_CHARS, description="`next_cursor` of the previous page")
]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]


def start_key(
    caller: Caller, scope: str, cursor: str | None, fields: dict[str, type]
) -> dict[str, Any] | None:
    """The page's start (decoded from ``cursor``: InvalidRequestError if it isn't the caller's)."""
    if not cursor:
        return None
    return cursors.decode(caller.settings.bot_token, scope, caller.user_id, cursor, fields)


def next_cursor(caller: Caller, scope: str, key: dict[str, Any] | None) -> str | None:
    return None if key is None else cursors.encode(caller.settings.bot_token, scope, caller.user_id, key)
