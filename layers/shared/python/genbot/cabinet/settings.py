"""``PATCH /settings``: the caller's language, the assistant's answer language and notice toggles
(through ``genbot.users``, as /settings in the chat); answers the new ``/me``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict

from genbot.cabinet.auth import Caller, CurrentCaller
from genbot.cabinet.me import Language, Me, me_view
from genbot.users import set_chat_language, set_language, set_notice
from genbot.vocab import NoticeKind

router = APIGatewayHttpRouter()


class NoticeChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offers: bool | None = None
    bonus: bool | None = None
    subscription: bool | None = None


class SettingsChange(BaseModel):
    """Only the fields sent change; ``chat_language: null`` means "the question's language"."""

    model_config = ConfigDict(extra="forbid")

    language: Language | None = None
    chat_language: Language | None = None
    notices: NoticeChanges | None = None


def apply(caller: Caller, change: SettingsChange) -> Caller:
    user, language = caller.user, caller.language
    if change.language is not None and change.language != user.language:
        set_language(caller.user_id, change.language)
        user.language = language = change.language
    if "chat_language" in change.model_fields_set and change.chat_language != user.chat_language:
        set_chat_language(user, change.chat_language)
    for kind in NoticeKind:
        on = getattr(change.notices, str(kind), None) if change.notices else None
        if on is not None and on != (str(kind) not in set(user.muted or set())):
            set_notice(caller.settings, user, kind, on)
    return Caller(user=user, language=language, settings=caller.settings)


@router.patch("/settings", summary="Change the caller's settings")
def settings(caller: CurrentCaller, change: SettingsChange) -> Me:
    """Language, the assistant's answer language, notices on or off; the new ``/me``."""
    return me_view(apply(caller, change))
