"""/balance: credits and the latest ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from genbot.bot.keyboards import BTN_BALANCE, BTN_CABINET, cabinet_button, main_menu
from genbot.bot.texts import credits
from genbot.config import Settings
from genbot.i18n import variants
from genbot.ledger import history
from genbot.ledger.labels import KIND_LABELS
from genbot.store.models import LedgerEntry, User

router = Router(name="balance")


def format_entry(entry: LedgerEntry, tz: ZoneInfo) -> str:
    when = datetime.fromtimestamp(entry.created_at / 1000, UTC).astimezone(tz).strftime("%d.%m %H:%M")
    label = _(KIND_LABELS.get(entry.kind, entry.kind))
    return f"{int(entry.delta):+d} · {label} · {when}"


@router.message(Command("balance"))
@router.message(F.text.in_(variants(BTN_BALANCE)))
async def balance(message: Message, db_user: User | None, settings: Settings) -> SendMessage:
    """Show the balance and the last five ledger entries."""
    if db_user is None:
        return message.answer(_("Send /start first: it sets up your account."))
    lines = [_("💰 Balance: {credits}").format(credits=credits(int(db_user.balance)))]
    entries = [e for e in history(int(db_user.user_id), limit=8) if e.delta][:5]
    if entries:
        tz = ZoneInfo(settings.timezone)
        lines += ["", _("Recent:"), *(format_entry(e, tz) for e in entries)]
    return message.answer("\n".join(lines), reply_markup=cabinet_button(settings, _("👤 Open the cabinet")))


@router.message(F.text.in_(variants(BTN_CABINET)))
async def cabinet(message: Message, settings: Settings) -> SendMessage:
    """The main menu's cabinet button: a message whose inline button opens the Mini App."""
    markup = cabinet_button(settings, _("👤 Open the cabinet"))
    if markup is None:  # CABINET_URL was unset after the menu was sent
        return message.answer(_("The cabinet is not available right now."), reply_markup=main_menu())
    return message.answer(
        _("Your cabinet: balance and history, your pictures and videos, friends, purchases and settings."),
        reply_markup=markup,
    )
