"""``/broadcast``: an admin's message to every user or a segment, previewed, then confirmed.

``/broadcast`` and the text (or a photo whose caption starts with it). Options may fill the
rest of the command's line: ``lang=ru|en``, ``paying`` or ``never_paid``, ``active=N`` (days);
a last line ``[Button label](https://link)`` becomes a URL button. The formatting the admin
typed (bold, links...) goes out as typed. The bot answers with the message exactly as users
will get it, then "Send to <segment>?" with Send and Cancel; Send starts it once, however
often it is tapped (``genbot.notify.broadcast.start``). For anyone who is not an admin the
command matches nothing here and gets the answer any unknown command gets.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity
from aiogram.utils.i18n import gettext as _
from aiogram.utils.text_decorations import html_decoration

from genbot.config import Settings
from genbot.notify import broadcast
from genbot.notify.broadcast import BroadcastError, Button, Segment
from genbot.observability import logger
from genbot.store.models import User
from genbot.telegram.callbacks import BroadcastAction, BroadcastCb
from genbot.telegram.sending import SendFailure, send

router = Router(name="broadcast")

BUTTON_LINE = re.compile(r"\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)")
OPTION = re.compile(
    r"(?:lang(?:uage)?=(?P<lang>[a-z]{2})|(?P<paying>paying)|(?P<never>never_paid|unpaid)|active=(?P<days>\d{1,4}))",
    re.IGNORECASE,
)


def is_admin(event: Message | CallbackQuery, settings: Settings) -> bool:
    """Only the operator's ids (``ADMIN_IDS``); everyone else falls through to other routers."""
    return event.from_user is not None and settings.is_admin(event.from_user.id)


@dataclass(frozen=True)
class Draft:
    """What an admin's ``/broadcast`` message asks for: HTML text, photo, button, segment."""

    text: str
    photo: str | None
    button: Button | None
    segment: Segment


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_slice(text: str, entities: list[MessageEntity], start: int, end: int) -> str:
    """``text[start:end]`` as Telegram HTML with the formatting the sender gave that part."""
    low, high = _utf16(text[:start]), _utf16(text[:end])
    kept = []
    for entity in entities:
        a, b = max(entity.offset, low), min(entity.offset + entity.length, high)
        if a < b and entity.type != "bot_command":
            kept.append(entity.model_copy(update={"offset": a - low, "length": b - a}))
    return html_decoration.unparse(text[start:end], kept)


def parse(message: Message) -> Draft:
    """Read options, text, button and photo from the admin's message (``BroadcastError``: how not)."""
    raw = message.text or message.caption or ""
    entities = list(message.entities or message.caption_entities or [])
    newline = raw.find("\n")
    first_line = raw if newline < 0 else raw[:newline]
    command_end = len(first_line) - len(first_line.lstrip()) + len(first_line.split(maxsplit=1)[0])
    tokens = first_line[command_end:].split()
    options = [OPTION.fullmatch(token) for token in tokens]
    fields: dict[str, object] = {}
    if tokens and all(options):
        start = len(raw) if newline < 0 else newline + 1
        for match in options:
            assert match is not None
            if match["lang"]:
                fields["language"] = match["lang"].lower()
            elif match["paying"]:
                fields["paying"] = True
            elif match["never"]:
                fields["paying"] = False
            elif match["days"]:
                fields["active_days"] = int(match["days"])
    else:
        start = command_end
    end = len(raw)
    body = raw[start:end].rstrip()
    last_break = body.rfind("\n")
    last_line = body[last_break + 1 :].strip()
    button = None
    found = BUTTON_LINE.fullmatch(last_line)
    if found:
        button = Button(text=found["label"].strip(), url=found["url"])
        end = start + max(0, last_break)
    while start < end and raw[start].isspace():
        start += 1
    while end > start and raw[end - 1].isspace():
        end -= 1
    try:
        segment = Segment.model_validate(fields)
    except ValueError as exc:
        raise BroadcastError(str(exc)) from None
    photo = message.photo[-1].file_id if message.photo else None
    return Draft(html_slice(raw, entities, start, end), photo, button, segment)


def confirm_keyboard(broadcast_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ Send"),
                    callback_data=BroadcastCb(action=BroadcastAction.SEND, broadcast=broadcast_id).pack(),
                ),
                InlineKeyboardButton(
                    text=_("✖️ Cancel"),
                    callback_data=BroadcastCb(action=BroadcastAction.CANCEL, broadcast=broadcast_id).pack(),
                ),
            ]
        ]
    )


def usage() -> str:
    return _(
        "To send a message to users: /broadcast and the text (or a photo with that caption). "
        "Options on the command's line: lang=ru or lang=en, paying or never_paid, active=N (days). "
        "A last line [Button label](https://link) adds a button."
    )


@router.message(Command("broadcast"), is_admin)
async def compose(message: Message, settings: Settings, bot: Bot, db_user: User | None) -> SendMessage:
    """A draft from the admin's message: the exact preview, then "Send to ...?"."""
    language = str(db_user.language) if db_user is not None else settings.default_language
    try:
        draft = parse(message)
        if not draft.text.strip():
            return message.answer(usage())
        item = broadcast.create(
            settings,
            draft.text,
            photo=draft.photo,
            button=draft.button,
            segment=draft.segment,
            created_by=f"tg:{message.chat.id}",
        )
    except BroadcastError as exc:
        return message.answer(
            _("This can't be sent: {reason}").format(reason=html_decoration.quote(str(exc)))
        )
    preview = broadcast.render(broadcast.content_of(item), message.chat.id, language)
    try:
        await send(bot, preview, broadcast_id=item.broadcast_id, preview=True)
    except SendFailure as failure:
        broadcast.cancel(item.broadcast_id)
        return message.answer(
            _("Telegram refused the preview, so nothing will be sent: {reason}").format(
                reason=html_decoration.quote(failure.description)
            )
        )
    return message.answer(
        _("Send this to {segment}?").format(segment=draft.segment.describe(language)),
        reply_markup=confirm_keyboard(item.broadcast_id),
    )


@router.callback_query(BroadcastCb.filter(), is_admin)
async def decide(
    query: CallbackQuery, callback_data: BroadcastCb, settings: Settings, db_user: User | None
) -> AnswerCallbackQuery | EditMessageText:
    """Send (once, however often tapped) or cancel the draft."""
    broadcast_id = callback_data.broadcast
    if callback_data.action == BroadcastAction.SEND:
        if not broadcast.start(settings, broadcast_id):
            return query.answer(_("This broadcast was already started or cancelled."), show_alert=True)
        logger.info("broadcast started by admin", extra={"broadcast_id": broadcast_id})
        text = _("📣 Sending. Progress: genbot broadcast status {id}").format(id=broadcast_id)
    else:
        if not broadcast.cancel(broadcast_id):
            return query.answer(_("This broadcast was already finished or cancelled."), show_alert=True)
        text = _("Cancelled: nothing was sent.")
    if query.message is None:
        return query.answer(text, show_alert=True)
    with contextlib.suppress(TelegramAPIError):
        await query.answer()
    return EditMessageText(chat_id=query.message.chat.id, message_id=query.message.message_id, text=text)
