"""The webhook-reply serializer: aiogram's Default placeholders resolved, uploads refused."""

from __future__ import annotations

from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile
from aiogram.utils.keyboard import InlineKeyboardBuilder

from genbot.config import Settings
from genbot.telegram import make_bot, webhook_reply


def bot():
    return make_bot(Settings(bot_token="1:abc", telegram_api_url="http://127.0.0.1:9"))


def test_defaults_are_resolved_and_nested_objects_kept_as_json() -> None:
    keyboard = InlineKeyboardBuilder()
    keyboard.button(text="ok", callback_data="x:1")

    body = webhook_reply(bot(), SendMessage(chat_id=5, text="<b>hi</b>", reply_markup=keyboard.as_markup()))

    assert body == {
        "method": "sendMessage",
        "chat_id": 5,
        "text": "<b>hi</b>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "ok", "callback_data": "x:1"}]]},
    }


def test_a_method_that_uploads_a_file_cannot_ride_in_the_response() -> None:
    photo = SendPhoto(chat_id=5, photo=BufferedInputFile(b"\x89PNG", filename="a.png"))

    assert webhook_reply(bot(), photo) is None
