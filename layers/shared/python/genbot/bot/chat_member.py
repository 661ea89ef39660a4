"""my_chat_member: remember who blocked the bot, so broadcasts and notices skip them."""

from __future__ import annotations

import time

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated

from genbot.config import Settings
from genbot.store.models import User
from genbot.users import set_blocked
from genbot.users.notices import bonus_key_now

router = Router(name="chat_member")
router.my_chat_member.filter(lambda event: event.chat.type == ChatType.PRIVATE)


@router.my_chat_member(ChatMemberUpdatedFilter(member_status_changed=KICKED))
async def blocked(event: ChatMemberUpdated) -> None:
    """The user blocked the bot."""
    set_blocked(event.from_user.id, True)


@router.my_chat_member(ChatMemberUpdatedFilter(member_status_changed=MEMBER))
async def unblocked(event: ChatMemberUpdated, db_user: User | None, settings: Settings) -> None:
    """The user unblocked (restarted) the bot: notices resume (a bonus reminder run dropped
    them from its index while they were away)."""
    resume = bonus_key_now(settings, db_user, time.time()) if db_user is not None else []
    set_blocked(event.from_user.id, False, resume=resume)
