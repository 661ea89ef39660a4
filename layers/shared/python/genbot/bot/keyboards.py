"""Keyboards, built with aiogram's builders; callback data as typed factories."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, WebAppInfo
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder

from genbot.config import Settings, get_settings
from genbot.i18n import N_
from genbot.telegram.callbacks import BonusCb, LanguageCb, MenuAction, MenuCb, PromoCb

# Button texts (msgids); the handlers match them in every language via genbot.i18n.variants.
BTN_GENERATE = N_("🎨 Generate")
BTN_BALANCE = N_("💰 Balance")
BTN_BUY = N_("🛒 Buy credits")
BTN_BONUSES = N_("🎁 Bonuses")
BTN_HELP = N_("❓ Help")
BTN_ASSISTANT = N_("💬 Assistant")
BTN_CABINET = N_("👤 Cabinet")
MENU_BUTTONS = (BTN_GENERATE, BTN_ASSISTANT, BTN_BALANCE, BTN_BUY, BTN_BONUSES, BTN_HELP, BTN_CABINET)
BTN_PROMO = N_("🎟 Promo code")


def main_menu() -> ReplyKeyboardMarkup:
    builder = ReplyKeyboardBuilder()
    builder.button(text=_(BTN_GENERATE))
    builder.button(text=_(BTN_ASSISTANT))
    builder.button(text=_(BTN_BALANCE))
    builder.button(text=_(BTN_BUY))
    builder.button(text=_(BTN_BONUSES))
    builder.button(text=_(BTN_HELP))
    if cabinet_url(get_settings()):
        builder.button(text=_(BTN_CABINET))
    builder.adjust(2, 2, 2, 1)
    return builder.as_markup(resize_keyboard=True, is_persistent=True)


def cabinet_url(settings: Settings, section: str = "") -> str | None:
    """The cabinet Mini App (``CABINET_URL``, set by CDK to the site's https:// address) at
    ``section`` (``#admin``); None when there is none."""
    base = settings.cabinet_url.strip()
    return f"{base.split('#', 1)[0]}{section}" if base.startswith("https://") else None


def cabinet_button(settings: Settings, text: str, section: str = "") -> InlineKeyboardMarkup | None:
    """One inline button opening the cabinet as a Mini App. Inline, not a reply-keyboard
    ``web_app`` button: only an inline button's Mini App gets the signed ``initData`` the
    cabinet API checks (a keyboard button's gets none)."""
    url = cabinet_url(settings, section)
    if url is None:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, web_app=WebAppInfo(url=url))]]
    )


def language_picker() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="🇷🇺 Русский", callback_data=LanguageCb(code="ru"))
    builder.button(text="🇬🇧 English", callback_data=LanguageCb(code="en"))
    return builder.as_markup()


def bonuses(can_claim: bool) -> InlineKeyboardMarkup:
    """The daily bonus (while it can be claimed today) and the promo code."""
    builder = InlineKeyboardBuilder()
    if can_claim:
        builder.button(text=_("Claim today's bonus"), callback_data=BonusCb())
    builder.button(text=_(BTN_PROMO), callback_data=PromoCb())
    builder.adjust(1)
    return builder.as_markup()


def buy_button() -> InlineKeyboardButton:
    """Opens the credit packs (the same as the menu's 🛒 Buy credits)."""
    return InlineKeyboardButton(text=_(BTN_BUY), callback_data=MenuCb(action=MenuAction.BUY).pack())
