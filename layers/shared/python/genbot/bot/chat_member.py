"""my_chat_member: remember who blocked the bot, so broadcasts and notices skip them."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated

from genbot.users import set_blocked

router = Router(name="chat_member")
router.my_chat_member.filter(lambda event: event.chat.type == ChatType.PRIVATE)


@router.my_chat_member(ChatMemberUpdatedFilter(member_status_changed=KICKED))
async def blocked(event: ChatMemberUpdated) -> None:
    """The user blocked the bot."""
    set_blocked(event.from_user.id, True)


@router.my_chat_member(ChatMemberUpdatedFilter(member_status_changed=MEMBER))
async def unblocked(event: ChatMemberUpdated) -> None:
    """The user unblocked (restarted) the bot."""
    set_blocked(event.from_user.id, False)
