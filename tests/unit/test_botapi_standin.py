"""The Bot API stand-in driven by real aiogram: shapes aiogram parses, and Telegram's limits and errors.

Each test gets its own stand-in (a thread and a port) and closes every aiogram session it opens.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Update,
)
from PIL import Image

from genbot_local.botapi import BotApiStandIn, FloodLimits

TOKEN = "123456:TEST-token"
USER = 5550001


def png(size: tuple[int, int] = (640, 480), color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def standin() -> Iterator[BotApiStandIn]:
    server = BotApiStandIn(token=TOKEN, bot_username="genbot_local_bot", flood=None).start()
    yield server
    server.stop()


@asynccontextmanager
async def bot_for(server: BotApiStandIn, token: str = TOKEN) -> AsyncIterator[Bot]:
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


def keyboard(data: str = "go") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data=data)]])


def raw(
    server: BotApiStandIn, method: str, body: bytes | None, content_type: str | None, token: str = TOKEN
) -> tuple[int, dict[str, Any]]:
    """One request with a hand-made body, as a non-aiogram client would send it."""
    request = urllib.request.Request(f"{server.base_url}/bot{token}/{method}", data=body, method="POST")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_get_me_is_the_bot_user(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            me = await bot.get_me()
            assert (me.id, me.is_bot, me.username, me.first_name) == (
                123456,
                True,
                "genbot_local_bot",
                "genbot",
            )

    asyncio.run(scenario())
    assert standin.calls_for("getMe")[0].result["username"] == "genbot_local_bot"


def test_send_message_parses_html_and_keeps_the_chat(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            message = await bot.send_message(
                USER,
                "  <b>Привет</b>, <a href='https://example.com'>мир</a> &lt;3 ",
                parse_mode="HTML",
                reply_markup=keyboard(),
            )
            assert message.text == "Привет, мир <3"
            assert message.chat.id == USER and message.chat.type == "private"
            assert message.from_user is not None and message.from_user.is_bot
            kinds = [(e.type, e.offset, e.length) for e in message.entities or []]
            assert kinds == [("bold", 0, 6), ("text_link", 8, 3)]
            assert message.reply_markup is not None
            assert message.reply_markup.inline_keyboard[0][0].callback_data == "go"

    asyncio.run(scenario())
    call = standin.calls_for("sendMessage")[-1]
    assert call.params["chat_id"] == USER  # aiogram sends a form: the stand-in restores the types
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    (shown,) = standin.chat_messages(USER)
    assert shown["text"] == "Привет, мир <3"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<b>x</i>", "Unmatched end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_malformed_html_is_rejected_as_telegram_does(standin: BotApiStandIn, text: str, error: str) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            with pytest.raises(TelegramBadRequest, match="can't parse entities") as raised:
                await bot.send_message(USER, text, parse_mode="HTML")
            assert error in raised.value.message

    asyncio.run(scenario())


def test_html_entities_nested_pre_code_and_spoiler(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            message = await bot.send_message(
                USER,
                '<pre><code class="language-python">x = 1</code></pre>\n'
                "<tg-spoiler>тайна</tg-spoiler> <i><b>😀 x</b></i> &amp; &#1046;",
                parse_mode="HTML",
            )
            assert message.text == "x = 1\nтайна 😀 x & Ж"
            entities = [(e.type, e.offset, e.length, e.language) for e in message.entities or []]
            # offsets are UTF-16 units: the emoji counts twice
            assert entities == [
                ("pre", 0, 5, "python"),
                ("spoiler", 6, 5, None),
                ("italic", 12, 4, None),
                ("bold", 12, 4, None),
            ]

    asyncio.run(scenario())


def test_text_limits(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            await bot.send_message(USER, "я" * 4096)
            with pytest.raises(TelegramBadRequest, match="message is too long"):
                await bot.send_message(USER, "я" * 4097)
            with pytest.raises(TelegramBadRequest, match="message is too long"):
                await bot.send_message(USER, "😀" * 2049)  # 4098 UTF-16 units
            with pytest.raises(TelegramBadRequest, match="message text is empty"):
                await bot.send_message(USER, "   \n ")
            with pytest.raises(TelegramBadRequest, match="message text is empty"):
                await bot.send_message(USER, "<b></b>", parse_mode="HTML")
            # the limit is on the text after entity parsing: markup does not count
            await bot.send_message(USER, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")

    asyncio.run(scenario())


def test_caption_limit_and_callback_data_limit(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            photo = BufferedInputFile(png(), "p.png")
            with pytest.raises(TelegramBadRequest, match="message caption is too long"):
                await bot.send_photo(USER, photo, caption="c" * 1025)
            await bot.send_photo(USER, photo, caption="c" * 1024)
            await bot.send_message(USER, "ok", reply_markup=keyboard("ж" * 32))  # 64 bytes
            with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
                await bot.send_message(USER, "no", reply_markup=keyboard("ж" * 33))  # 66 bytes
            with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
                await bot.send_message(USER, "no", reply_markup=keyboard(""))

    asyncio.run(scenario())


def test_send_photo_upload_then_by_file_id_and_download_round_trip(standin: BotApiStandIn) -> None:
    image = png((1600, 1200))

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            sent = await bot.send_photo(USER, BufferedInputFile(image, "fox.png"), caption="<i>лиса</i>")
            assert sent.caption == "<i>лиса</i>"  # no parse_mode: shown as typed
            assert sent.photo is not None and len(sent.photo) >= 3
            largest = sent.photo[-1]
            assert (largest.width, largest.height, largest.file_size) == (1600, 1200, len(image))
            assert sent.photo[0].width == 90

            again = await bot.send_photo(USER, largest.file_id)
            assert again.photo is not None and again.photo[-1].file_id == largest.file_id
            with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
                await bot.send_photo(USER, "AgACAgIAAxkBAAnope")

            file = await bot.get_file(largest.file_id)
            assert file.file_path and file.file_size == len(image)
            downloaded = await bot.download_file(file.file_path)
            assert downloaded is not None and downloaded.read() == image

            with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
                await bot.send_photo(USER, BufferedInputFile(b"not an image", "x.png"))

    asyncio.run(scenario())
    upload = standin.calls_for("sendPhoto")[0]
    assert upload.files == {"photo": image}


def test_video_document_animation_and_chat_action(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            assert await bot.send_chat_action(USER, "upload_video")
            video = await bot.send_video(USER, BufferedInputFile(b"\x00\x00\x00\x18ftypmp42", "v.mp4"))
            assert video.video is not None and video.video.mime_type == "video/mp4"
            document = await bot.send_document(USER, BufferedInputFile(b"%PDF-1.4", "Отчёт.pdf"))
            assert document.document is not None and document.document.file_name == "Отчёт.pdf"
            gif = await bot.send_animation(USER, BufferedInputFile(b"GIF89a\x10\x00\x08\x00", "a.gif"))
            assert gif.animation is not None and (gif.animation.width, gif.animation.height) == (16, 8)
            with pytest.raises(TelegramBadRequest, match="type of file mismatch"):
                await bot.send_photo(USER, document.document.file_id)
            with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
                await bot.send_chat_action(USER, "dancing")

    asyncio.run(scenario())


def test_edits_not_modified_missing_and_delete(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            sent = await bot.send_message(USER, "В очереди", reply_markup=keyboard())
            edited = await bot.edit_message_text(
                "<b>Готово</b>", chat_id=USER, message_id=sent.message_id, parse_mode="HTML"
            )
            assert not isinstance(edited, bool)
            assert edited.text == "Готово" and edited.edit_date and edited.reply_markup is None
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await bot.edit_message_text(
                    "<b>Готово</b>", chat_id=USER, message_id=sent.message_id, parse_mode="HTML"
                )
            # the same text without the bold entity is a change
            await bot.edit_message_text("Готово", chat_id=USER, message_id=sent.message_id)
            with pytest.raises(TelegramBadRequest, match="message to edit not found"):
                await bot.edit_message_text("x", chat_id=USER, message_id=999)
            await bot.edit_message_reply_markup(
                chat_id=USER, message_id=sent.message_id, reply_markup=keyboard()
            )
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await bot.edit_message_reply_markup(
                    chat_id=USER, message_id=sent.message_id, reply_markup=keyboard()
                )

            photo = await bot.send_photo(USER, BufferedInputFile(png(), "p.png"), caption="old")
            edited = await bot.edit_message_caption(chat_id=USER, message_id=photo.message_id, caption="new")
            assert not isinstance(edited, bool) and edited.caption == "new"
            with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
                await bot.edit_message_text("x", chat_id=USER, message_id=photo.message_id)

            assert await bot.delete_message(USER, photo.message_id)
            with pytest.raises(TelegramBadRequest, match="message to delete not found"):
                await bot.delete_message(USER, photo.message_id)

    asyncio.run(scenario())
    assert [m["text"] for m in standin.chat_messages(USER)] == ["Готово"]


def test_flood_control_answers_429_with_retry_after() -> None:
    server = BotApiStandIn(
        token=TOKEN, flood=FloodLimits(per_chat_burst=3, per_chat_rate=0.5, global_rate=100)
    )
    server.start()

    async def scenario() -> None:
        async with bot_for(server) as bot:
            for i in range(3):
                await bot.send_message(USER, f"burst {i}")
            with pytest.raises(TelegramRetryAfter) as raised:
                await bot.send_message(USER, "one too many")
            assert raised.value.retry_after >= 1
            await bot.send_message(USER + 1, "another chat has its own bucket")

    try:
        asyncio.run(scenario())
        refused = server.calls_for("sendMessage")[3].response
        assert refused["error_code"] == 429 and refused["parameters"]["retry_after"] == 2
        assert refused["description"] == "Too Many Requests: retry after 2"
        server.clear_calls()  # a fresh record refills the buckets
        assert (
            raw(
                server, "sendMessage", json.dumps({"chat_id": USER, "text": "x"}).encode(), "application/json"
            )[0]
            == 200
        )
    finally:
        server.stop()


def test_global_flood_limit() -> None:
    server = BotApiStandIn(token=TOKEN, flood=FloodLimits(global_rate=2, per_chat_burst=50)).start()

    async def scenario() -> None:
        async with bot_for(server) as bot:
            await bot.send_message(1, "a")
            await bot.send_message(2, "b")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(3, "c")

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_blocked_user_is_forbidden_until_unblocked(standin: BotApiStandIn) -> None:
    standin.block(USER)

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                await bot.send_message(USER, "hello?")
            with pytest.raises(TelegramForbiddenError):
                await bot.send_chat_action(USER, "typing")
            standin.unblock(USER)
            await bot.send_message(USER, "hello again")

    asyncio.run(scenario())


def test_wrong_token_unknown_method_and_webhook_conflict(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin, token="123456:wrong") as bot:
            with pytest.raises(TelegramUnauthorizedError):
                await bot.get_me()
        async with bot_for(standin) as bot:
            assert await bot.set_webhook("https://example.com/hook", secret_token="s")
            info = await bot.get_webhook_info()
            assert info.url == "https://example.com/hook"
            with pytest.raises(TelegramConflictError, match="webhook is active"):
                await bot.get_updates(timeout=0)
            with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
                await bot.set_webhook("http://example.com/hook")
            assert await bot.delete_webhook()
            assert (await bot.get_webhook_info()).url == ""
            assert await bot.get_updates(timeout=0) == []

    asyncio.run(scenario())
    status, body = raw(standin, "sendTelepathy", b"{}", "application/json")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


def test_get_updates_long_poll_returns_an_injected_update_at_once(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            threading.Timer(0.3, standin.user_message, args=(USER, "/start")).start()
            started = time.monotonic()
            updates = await bot.get_updates(timeout=10)
            assert time.monotonic() - started < 5
            (update,) = updates
            assert isinstance(update, Update) and update.message is not None
            assert update.message.text == "/start" and update.message.from_user is not None
            assert update.message.from_user.language_code == "ru"
            assert update.message.entities and update.message.entities[0].type == "bot_command"

            second = standin.user_message(USER, "ещё")
            assert second["update_id"] == update.update_id + 1
            # without an offset the update stays; the offset confirms it, as on Telegram
            assert [u.update_id for u in await bot.get_updates(timeout=0)] == [
                update.update_id,
                second["update_id"],
            ]
            assert [u.update_id for u in await bot.get_updates(offset=second["update_id"])] == [
                second["update_id"]
            ]
            started = time.monotonic()
            assert await bot.get_updates(offset=second["update_id"] + 1, timeout=1) == []
            assert 0.8 < time.monotonic() - started < 3

    asyncio.run(scenario())


def test_on_update_callback_and_wait_for(standin: BotApiStandIn) -> None:
    seen: list[dict[str, Any]] = []

    def bot_logic(update: dict[str, Any]) -> None:
        seen.append(update)
        text = update["message"]["text"]
        body = json.dumps({"chat_id": update["message"]["chat"]["id"], "text": f"echo: {text}"}).encode()
        raw(standin, "sendMessage", body, "application/json")

    standin.on_update = bot_logic
    standin.user_message(USER, "привет", first_name="Анна", language_code="ru")
    call = standin.wait_for(lambda c: c.method == "sendMessage" and c.ok, timeout=5)
    assert call.params["text"] == "echo: привет"
    assert seen[0]["message"]["from"]["first_name"] == "Анна"
    assert [m["text"] for m in standin.chat_messages(USER)] == ["привет", "echo: привет"]
    with pytest.raises(TimeoutError):
        standin.wait_for("sendPhoto", timeout=0.2)


def test_params_as_json_form_and_multipart_decode_alike(standin: BotApiStandIn) -> None:
    markup = {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]}
    as_json = json.dumps({"chat_id": USER, "text": "один", "reply_markup": markup}).encode()
    assert raw(standin, "sendMessage", as_json, "application/json")[0] == 200

    as_form = urllib.parse.urlencode(
        {
            "chat_id": str(USER),
            "text": "два",
            "reply_markup": json.dumps(markup),
            "disable_notification": "true",
        }
    ).encode()
    assert raw(standin, "sendMessage", as_form, "application/x-www-form-urlencoded")[0] == 200

    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n{USER}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nтри\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="reply_markup"\r\n\r\n'.encode()
        + json.dumps(markup).encode()
        + b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n".encode(),
        f"--{boundary}--\r\n".encode(),
    ]
    status, body = raw(standin, "sendDocument", b"".join(parts), f"multipart/form-data; boundary={boundary}")
    assert status == 200 and body["result"]["document"]["file_name"] == "a.txt"

    first, second = standin.calls_for("sendMessage")
    third = standin.calls_for("sendDocument")[0]
    for call in (first, second, third):
        assert call.params["chat_id"] == USER
        assert call.params["reply_markup"] == markup
    assert second.params["disable_notification"] is True
    assert third.files == {"document": b"hello"} and third.params["caption"] == "три"

    status, body = raw(
        standin,
        "sendMessage",
        json.dumps({"chat_id": USER, "text": "x", "reply_markup": "{nope"}).encode(),
        "application/json",
    )
    assert status == 400 and "can't parse reply keyboard markup" in body["description"]


def test_user_photo_is_downloadable_and_a_document_when_sent_as_file(standin: BotApiStandIn) -> None:
    image = png((320, 240))
    update = standin.user_photo(USER, image, caption="edit me")
    photo = update["message"]["photo"]
    assert photo[-1]["width"] == 320 and update["message"]["caption"] == "edit me"
    as_file = standin.user_photo(USER, image, as_document=True, mime_type="image/png", file_name="p.png")
    document = as_file["message"]["document"]
    assert (document["mime_type"], document["file_name"]) == ("image/png", "p.png")

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            for file_id in (photo[-1]["file_id"], document["file_id"]):
                file = await bot.get_file(file_id)
                assert file.file_path
                downloaded = await bot.download_file(file.file_path)
                assert downloaded is not None and downloaded.read() == image
            parsed = Update.model_validate(update, context={"bot": bot})
            assert parsed.message is not None and parsed.message.photo

    asyncio.run(scenario())


def test_callback_query_and_answer(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            sent = await bot.send_message(USER, "Выберите", reply_markup=keyboard("pick"))
            update = standin.user_callback(USER, sent.message_id, "pick")
            query = Update.model_validate(update, context={"bot": bot}).callback_query
            assert query is not None and query.data == "pick"
            assert query.message is not None and query.message.message_id == sent.message_id
            assert await bot.answer_callback_query(query.id, text="Принято")
            with pytest.raises(TelegramBadRequest, match="query is too old"):
                await bot.answer_callback_query(query.id)

    asyncio.run(scenario())
    assert standin.chat_state(USER)["toasts"][-1]["text"] == "Принято"


def test_stars_payments(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            invoice = await bot.send_invoice(
                USER,
                title="100 кредитов",
                description="Пакет S",
                payload="pack:s",
                currency="XTR",
                prices=[LabeledPrice(label="S", amount=100)],
            )
            assert invoice.invoice is not None and invoice.invoice.total_amount == 100
            link = await bot.create_invoice_link(
                title="Подписка",
                description="Месяц",
                payload="sub:m",
                currency="XTR",
                prices=[LabeledPrice(label="M", amount=250)],
                subscription_period=2592000,
            )
            assert link.startswith("https://t.me/$")
            with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
                await bot.create_invoice_link(
                    title="x",
                    description="y",
                    payload="z",
                    currency="XTR",
                    prices=[LabeledPrice(label="M", amount=1)],
                    subscription_period=60,
                )

            query = standin.pre_checkout(USER, "pack:s", 100)["pre_checkout_query"]
            assert await bot.answer_pre_checkout_query(query["id"], ok=True)
            paid = standin.successful_payment(USER, "pack:s", 100, "stxCHARGE1")
            parsed = Update.model_validate(paid, context={"bot": bot}).message
            assert parsed is not None and parsed.successful_payment is not None
            assert parsed.successful_payment.telegram_payment_charge_id == "stxCHARGE1"
            assert await bot.refund_star_payment(USER, "stxCHARGE1")
            with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
                await bot.refund_star_payment(USER, "stxCHARGE1")
            assert await bot.edit_user_star_subscription(USER, "stxCHARGE1", is_canceled=True)

    asyncio.run(scenario())


def test_web_pay_drives_pre_checkout_and_successful_payment(standin: BotApiStandIn) -> None:
    def bot_logic(update: dict[str, Any]) -> None:
        if "pre_checkout_query" in update:
            body = {"pre_checkout_query_id": update["pre_checkout_query"]["id"], "ok": True}
            raw(standin, "answerPreCheckoutQuery", json.dumps(body).encode(), "application/json")

    standin.on_update = bot_logic
    body = {
        "chat_id": USER,
        "title": "Пакет",
        "description": "100",
        "payload": "pack:s",
        "currency": "XTR",
        "prices": [{"label": "S", "amount": 100}],
    }
    status, sent = raw(standin, "sendInvoice", json.dumps(body).encode(), "application/json")
    assert status == 200
    request = urllib.request.Request(
        f"{standin.base_url}/webchat/api/pay",
        data=json.dumps({"user_id": USER, "message_id": sent["result"]["message_id"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        payments = [m for m in standin.chat_messages(USER) if "successful_payment" in m]
        if payments:
            break
        time.sleep(0.05)
    assert payments and payments[0]["successful_payment"]["invoice_payload"] == "pack:s"


def test_set_my_commands_validates(standin: BotApiStandIn) -> None:
    from aiogram.types import BotCommand

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            assert await bot.set_my_commands([BotCommand(command="start", description="Начать")])
            assert [c.command for c in await bot.get_my_commands()] == ["start"]
            with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
                await bot.set_my_commands([BotCommand(command="Start!", description="x")])

    asyncio.run(scenario())
    assert standin.commands("ru") == [{"command": "start", "description": "Начать"}]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_image_size_reads_the_header(fmt: str) -> None:
    from genbot_local.botapi.files import image_size

    buffer = io.BytesIO()
    Image.new("RGB", (123, 45), "red").save(buffer, fmt)
    assert image_size(buffer.getvalue()) == (123, 45)
    assert image_size(b"plain text") is None


def test_photo_by_url_loopback_is_fetched_other_hosts_are_kept_as_links(standin: BotApiStandIn) -> None:
    image = png((200, 100))
    stored = standin.user_photo(USER, image)["message"]["photo"][-1]

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            file = await bot.get_file(stored["file_id"])
            url = f"{standin.base_url}/file/bot{TOKEN}/{file.file_path}"
            fetched = await bot.send_photo(USER, url)
            assert fetched.photo is not None and fetched.photo[-1].width == 200
            assert fetched.photo[-1].file_id != stored["file_id"]
            with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
                await bot.send_photo(USER, f"{standin.base_url}/file/bot{TOKEN}/photos/missing.jpg")
            remote = await bot.send_photo(USER, "https://example.com/cat.jpg")  # no network: not fetched
            assert remote.photo
            remote_file = await bot.get_file(remote.photo[-1].file_id)
            assert remote_file.file_path is None

    asyncio.run(scenario())


def test_allowed_updates_and_a_second_poller_conflict(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot, bot_for(standin) as other:
            standin.user_message(USER, "text")
            standin.pre_checkout(USER, "p", 1)
            updates = await bot.get_updates(allowed_updates=["pre_checkout_query"])
            assert [u.event_type for u in updates] == ["pre_checkout_query"]

            waiting = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))
            await asyncio.sleep(0.3)
            assert await other.get_updates(offset=updates[-1].update_id + 1) == []
            with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
                await waiting

    asyncio.run(scenario())


def test_replies_to_missing_messages_and_bad_markup(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            first = await bot.send_message(USER, "first")
            reply = await bot.send_message(USER, "second", reply_to_message_id=first.message_id)
            assert reply.reply_to_message is not None and reply.reply_to_message.text == "first"
            with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
                await bot.send_message(USER, "x", reply_to_message_id=999)
            with pytest.raises(TelegramBadRequest, match='Unsupported start tag "" at byte offset 2'):
                await bot.send_message(USER, "a < b", parse_mode="HTML")

    asyncio.run(scenario())
    status, body = raw(
        standin,
        "sendMessage",
        json.dumps(
            {"chat_id": USER, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "t"}]]}}
        ).encode(),
        "application/json",
    )
    assert status == 400 and "Text buttons are unallowed in the inline keyboard" in body["description"]


def test_webchat_api_users_send_and_long_poll(standin: BotApiStandIn) -> None:
    def call(path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{standin.base_url}/webchat/api/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    with urllib.request.urlopen(f"{standin.base_url}/", timeout=5) as page:
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "app.js" in page.read().decode()
    session = call("session")
    assert session["bot"]["username"] == "genbot_local_bot" and len(session["users"]) == 2
    user = call("users", {"first_name": "Вера", "language_code": "en"})
    assert user["language_code"] == "en"
    empty = call(f"chat?user_id={user['id']}&since=-1")
    call("send", {"user_id": user["id"], "text": "привет"})
    started = time.monotonic()
    chat = call(f"chat?user_id={user['id']}&since={empty['version']}&wait=5")
    assert time.monotonic() - started < 3
    assert [(m["out"], m["text"]) for m in chat["messages"]] == [(True, "привет")]
    status, body = raw(standin, "getUpdates", b"{}", "application/json")  # the update waits for the bot
    assert status == 200 and body["result"][-1]["message"]["from"]["first_name"] == "Вера"


def noise_png(size: tuple[int, int]) -> bytes:
    """An incompressible PNG: random pixels, stored without compression (big on purpose)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def upload(standin: BotApiStandIn, user_id: int, data: bytes, *, as_document: bool, name: str) -> None:
    """What the web chat's attach button sends (multipart, like a browser's FormData)."""
    boundary = uuid.uuid4().hex
    fields = [
        ('name="user_id"', b"", str(user_id).encode()),
        ('name="as_document"', b"", b"1" if as_document else b"0"),
        (f'name="file"; filename="{name}"', b"Content-Type: image/png\r\n", data),
    ]
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
            + headers
            + b"\r\n"
            + value
            + b"\r\n"
            for disposition, headers, value in fields
        )
        + f"--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{standin.base_url}/webchat/api/photo",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200


def test_a_big_photo_is_scaled_down_as_telegram_does_and_kept_whole_as_a_file(standin: BotApiStandIn) -> None:
    big = noise_png((2400, 1800))
    assert len(big) > 10 * 1024 * 1024

    upload(standin, USER, big, as_document=False, name="big.png")
    photo = standin.chat_messages(USER)[-1]["photo"]
    assert [max(p["width"], p["height"]) for p in photo] == [90, 320, 800, 1280]
    assert (photo[-1]["width"], photo[-1]["height"]) == (1280, 960)
    upload(standin, USER, big, as_document=True, name="big.png")
    document = standin.chat_messages(USER)[-1]["document"]
    assert document["file_size"] == len(big) and document["file_name"] == "big.png"
    huge = standin.user_photo(
        USER, b"\0" * (20 * 1024 * 1024 + 1), as_document=True, mime_type="application/zip"
    )

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            for size in photo:
                file = await bot.get_file(size["file_id"])
                assert file.file_path and file.file_size == size["file_size"]
                downloaded = await bot.download_file(file.file_path)
                assert downloaded is not None
                data = downloaded.read()
                assert len(data) == size["file_size"] and data.startswith(b"\xff\xd8")  # a JPEG
                assert Image.open(io.BytesIO(data)).size == (size["width"], size["height"])
            assert photo[-1]["file_size"] < 10 * 1024 * 1024
            file = await bot.get_file(document["file_id"])
            assert file.file_path
            downloaded = await bot.download_file(file.file_path)
            assert downloaded is not None and downloaded.read() == big  # a file keeps its bytes
            with pytest.raises(TelegramBadRequest, match="file is too big"):
                await bot.get_file(huge["message"]["document"]["file_id"])

    asyncio.run(scenario())


def test_the_web_chat_learns_the_bots_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    def zone(server: BotApiStandIn) -> str:
        with urllib.request.urlopen(f"{server.base_url}/webchat/api/session", timeout=10) as answer:
            return str(json.loads(answer.read())["timezone"])

    monkeypatch.delenv("TIMEZONE", raising=False)
    with BotApiStandIn(token=TOKEN) as server:
        assert zone(server) == "Europe/Moscow"
    monkeypatch.setenv("TIMEZONE", "Asia/Tokyo")
    with BotApiStandIn(token=TOKEN) as server:
        assert zone(server) == "Asia/Tokyo"
    with BotApiStandIn(token=TOKEN, timezone="Europe/Berlin") as server:
        assert zone(server) == "Europe/Berlin"


# -- the chat assistant: drafts, voice, edits --------------------------------------------------


def draft_call(server: BotApiStandIn, **params: Any) -> tuple[int, dict[str, Any]]:
    return raw(server, "sendMessageDraft", json.dumps(params).encode(), "application/json")


def test_a_draft_streams_then_the_real_message_replaces_it(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            assert await bot.send_message_draft(chat_id=USER, draft_id=7, text="Марс —", parse_mode="HTML")
            assert await bot.send_message_draft(
                chat_id=USER, draft_id=7, text="Марс — <b>холодная</b> планета", parse_mode="HTML"
            )
            (draft,) = standin.drafts(USER).values()
            assert draft["text"] == "Марс — холодная планета" and draft["updates"] == 2
            assert draft["entities"] == [{"offset": 7, "length": 8, "type": "bold"}]
            view = standin.chat_state(USER)["drafts"]
            assert [d["text"] for d in view] == ["Марс — холодная планета"] and view[0]["ms_left"] > 29_000
            await bot.send_message(USER, "Марс — <b>холодная</b> планета.", parse_mode="HTML")

    asyncio.run(scenario())
    assert standin.drafts(USER) == {} and standin.chat_state(USER)["drafts"] == []
    calls = standin.calls_for("sendMessageDraft")
    assert [c.ok for c in calls] == [True, True] and calls[0].result is True
    assert calls[1].params["draft_id"] == 7 and calls[1].params["parse_mode"] == "HTML"
    assert [m["text"] for m in standin.chat_messages(USER)] == ["Марс — холодная планета."]


def test_draft_parameters_are_checked_as_telegram_does(standin: BotApiStandIn) -> None:
    group = -100_200_300
    cases = [
        ({"chat_id": USER, "text": "x"}, 'parameter "draft_id" is required'),
        ({"chat_id": USER, "draft_id": 0, "text": "x"}, "draft_id must be non-zero"),
        ({"chat_id": group, "draft_id": 1, "text": "x"}, "only to private chats"),
        ({"chat_id": USER, "draft_id": 1, "text": "x" * 4097}, "message is too long"),
        ({"chat_id": USER, "draft_id": 1, "text": "<b>open", "parse_mode": "HTML"}, "can't parse entities"),
        ({"draft_id": 1, "text": "x"}, "chat_id is empty"),
    ]
    for params, error in cases:
        status, answer = draft_call(standin, **params)
        assert status == 400 and error in answer["description"], (params, answer)
    assert standin.drafts(USER) == {}
    # 4096 characters after entity parsing pass; an empty text is the "Thinking…" placeholder
    tagged = "<b>" + "я" * 4096 + "</b>"
    assert draft_call(standin, chat_id=USER, draft_id=1, text=tagged, parse_mode="HTML")[0] == 200
    assert draft_call(standin, chat_id=USER, draft_id=2, text="")[0] == 200
    assert {k: len(d["text"]) for k, d in standin.drafts(USER).items()} == {1: 4096, 2: 0}
    # form-encoded parameters are typed as Telegram types them
    body = f"chat_id={USER}&draft_id=3&text=hi".encode()
    assert raw(standin, "sendMessageDraft", body, "application/x-www-form-urlencoded")[0] == 200
    standin.block(USER)
    status, answer = draft_call(standin, chat_id=USER, draft_id=1, text="x")
    assert (status, answer["description"]) == (403, "Forbidden: bot was blocked by the user")


def test_drafts_and_edits_have_their_own_flood_buckets() -> None:
    limits = FloodLimits(per_chat_burst=50, draft_burst=3, draft_rate=0.5, edit_burst=2, edit_rate=0.5)
    with BotApiStandIn(token=TOKEN, flood=limits) as server:
        for n in range(3):
            assert draft_call(server, chat_id=USER, draft_id=1, text=f"part {n}")[0] == 200
        status, answer = draft_call(server, chat_id=USER, draft_id=1, text="too fast")
        assert status == 429 and answer["parameters"]["retry_after"] == 2
        assert server.drafts(USER)[1]["text"] == "part 2"  # the refused update changed nothing
        assert draft_call(server, chat_id=USER + 1, draft_id=1, text="another chat")[0] == 200

        async def scenario() -> None:
            async with bot_for(server) as bot:
                sent = await bot.send_message(USER, "answer")  # drafts don't use up messages
                await bot.edit_message_text("answer 1", chat_id=USER, message_id=sent.message_id)
                with pytest.raises(TelegramBadRequest, match="message is not modified"):
                    await bot.edit_message_text("answer 1", chat_id=USER, message_id=sent.message_id)
                await bot.edit_message_text("answer 2", chat_id=USER, message_id=sent.message_id)
                with pytest.raises(TelegramRetryAfter):
                    await bot.edit_message_text("answer 3", chat_id=USER, message_id=sent.message_id)

        asyncio.run(scenario())
        server.clear_calls()  # refills every bucket
        assert draft_call(server, chat_id=USER, draft_id=1, text="again")[0] == 200


def test_an_unchanged_edit_is_not_modified(standin: BotApiStandIn) -> None:
    async def scenario() -> None:
        async with bot_for(standin) as bot:
            sent = await bot.send_message(USER, "Марс — <i>красный</i>", parse_mode="HTML")
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await bot.edit_message_text(
                    "Марс — <i>красный</i>", chat_id=USER, message_id=sent.message_id, parse_mode="HTML"
                )

    asyncio.run(scenario())
    refused = standin.calls_for("editMessageText")[-1].response
    assert refused["error_code"] == 400 and refused["description"].startswith(
        "Bad Request: message is not modified"
    )


def ogg_voice(size: int = 700) -> bytes:
    head = b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    return head + bytes(size - len(head))


def test_a_voice_message_is_served_through_get_file(standin: BotApiStandIn) -> None:
    voice_bytes = ogg_voice()
    update = standin.user_voice(USER, voice_bytes, 3)
    voice = update["message"]["voice"]
    assert voice["file_id"].startswith("AwAC") and voice["file_unique_id"]
    assert (voice["duration"], voice["mime_type"], voice["file_size"]) == (3, "audio/ogg", len(voice_bytes))

    async def scenario() -> None:
        async with bot_for(standin) as bot:
            parsed = Update.model_validate(update, context={"bot": bot})
            assert parsed.message is not None and parsed.message.voice is not None
            assert parsed.message.voice.duration == 3
            file = await bot.get_file(voice["file_id"])
            assert file.file_path == f"voice/{file.file_path.split('/', 1)[1]}"
            assert file.file_path.endswith(".oga") and file.file_size == len(voice_bytes)
            downloaded = await bot.download_file(file.file_path)
            assert downloaded is not None and downloaded.read() == voice_bytes
            with pytest.raises(TelegramBadRequest, match="invalid file_id"):
                await bot.get_file("AwACnot-a-file")

    asyncio.run(scenario())
    (message,) = standin.chat_messages(USER)
    assert message["voice"]["file_id"] == voice["file_id"]
