"""The web chat page in a real Chromium: a person types, sees the bot's photo and buttons, presses one.

A tiny bot lives in the test: the stand-in hands each update to ``on_update``, which answers
through the stand-in's HTTP API with real aiogram. The browser never leaves 127.0.0.1.
Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    ReplyKeyboardMarkup,
)
from PIL import Image

from genbot_local.botapi import BotApiStandIn, FloodLimits

pytestmark = pytest.mark.e2e
ARTIFACTS_DIR = Path(__file__).parent / "artifacts"  # screenshots, looked at (not committed)

if not Path("/usr/bin/chromium").exists() and not os.environ.get("CI"):
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium); in CI this fails",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect  # noqa: E402

TOKEN = "123456:TEST-webchat"


def picture() -> bytes:
    image = Image.new("RGB", (480, 320), "#5aa9e6")
    for x in range(120, 360):
        for y in range(100, 220):
            image.putpixel((x, y), (255, 214, 102))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class TinyBot:
    """Answers like a real bot would, through the Bot API (aiogram over HTTP), one update at a time."""

    def __init__(self, server: BotApiStandIn) -> None:
        self.server = server
        self.image = picture()
        self.errors: list[BaseException] = []

    def __call__(self, update: dict[str, Any]) -> None:
        try:
            asyncio.run(self.handle(update))
        except BaseException as exc:  # surfaced by the test, not lost in the callback thread
            self.errors.append(exc)
            raise

    async def handle(self, update: dict[str, Any]) -> None:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(self.server.base_url)))
        try:
            if "callback_query" in update:
                query = update["callback_query"]
                choice = {"yes": "Да", "no": "Нет"}[query["data"]]
                await bot.answer_callback_query(query["id"], text=f"Выбрано: {choice}")
                await bot.edit_message_text(
                    f"Вы выбрали: <b>{choice}</b>",
                    chat_id=query["message"]["chat"]["id"],
                    message_id=query["message"]["message_id"],
                    parse_mode="HTML",
                )
                return
            if "pre_checkout_query" in update:
                await bot.answer_pre_checkout_query(update["pre_checkout_query"]["id"], ok=True)
                return
            message = update["message"]
            chat_id, text = message["chat"]["id"], message.get("text", "")
            if "successful_payment" in message:
                await bot.send_message(chat_id, "Спасибо! +100 кредитов")
                return
            if text == "/buy":
                await bot.send_invoice(
                    chat_id,
                    title="100 кредитов",
                    description="Пакет S: 100 генераций",
                    payload="pack:s",
                    currency="XTR",
                    prices=[LabeledPrice(label="S", amount=100)],
                )
                return
            if text == "Помощь":
                await bot.send_message(chat_id, "Это <b>помощь</b> и <code>/start</code>", parse_mode="HTML")
                return
            await bot.send_chat_action(chat_id, "upload_photo")
            await asyncio.sleep(1.0)
            await bot.send_photo(
                chat_id,
                BufferedInputFile(self.image, "sun.png"),
                caption="<b>Солнце</b> над морем",
                parse_mode="HTML",
                reply_markup=ReplyKeyboardMarkup(
                    keyboard=[[KeyboardButton(text="Помощь"), KeyboardButton(text="Меню")]],
                    resize_keyboard=True,
                ),
            )
            await bot.send_message(
                chat_id,
                f"Вы написали: <i>{html.escape(text)}</i>\nВыберите:",
                parse_mode="HTML",
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(text="Да", callback_data="yes"),
                            InlineKeyboardButton(text="Нет", callback_data="no"),
                        ]
                    ]
                ),
            )
        finally:
            await bot.session.close()


@pytest.fixture
def server() -> Iterator[BotApiStandIn]:
    stand_in = BotApiStandIn(token=TOKEN, bot_username="genbot_local_bot").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def page(chromium: Any, artifacts: Path) -> Page:
    context = chromium.new_context(viewport={"width": 1100, "height": 820}, locale="ru-RU")
    return context.new_page()


def test_a_person_chats_with_the_bot_in_the_browser(server: BotApiStandIn, page: Page) -> None:
    tiny_bot = TinyBot(server)
    server.on_update = tiny_bot
    page.goto(f"{server.base_url}/")
    expect(page.locator("#bot-name")).to_have_text("genbot @genbot_local_bot")
    expect(page.locator("#users li.active")).to_contain_text("Анна")

    page.locator("#text").fill("Привет <b>бот</b>!")
    page.locator("#text").press("Enter")

    expect(page.locator(".row.out .text").first).to_have_text("Привет <b>бот</b>!")
    expect(page.locator("#bot-status")).to_have_text("sending photo…")
    photo = page.locator(".row.in .media img")
    expect(photo).to_be_visible(timeout=15_000)
    assert photo.evaluate("img => img.naturalWidth") == 480
    expect(page.locator(".row.in .text strong").first).to_have_text("Солнце")

    asked = page.locator(".row.in", has_text="Вы написали")
    expect(asked).to_be_visible(timeout=15_000)
    question = page.locator(f'.row[data-message-id="{asked.get_attribute("data-message-id")}"]')
    # the user's "<b>" came back escaped: shown as text, never as markup
    expect(question.locator(".text em")).to_have_text("Привет <b>бот</b>!")
    assert question.locator(".text em b").count() == 0
    expect(page.locator("#reply-keyboard button", has_text="Помощь")).to_be_visible()

    page.screenshot(path=str(ARTIFACTS_DIR / "webchat-buttons.png"))
    question.locator(".inline-kb button", has_text="Да").click()
    expect(page.locator(".toast", has_text="Выбрано: Да")).to_be_visible(timeout=30_000)
    expect(question.locator(".text")).to_have_text("Вы выбрали: Да")
    expect(question.locator(".text strong")).to_have_text("Да")
    expect(question.locator(".meta")).to_contain_text("edited")
    expect(question.locator(".inline-kb")).to_have_count(0)

    page.locator("#reply-keyboard button", has_text="Помощь").click()
    expect(page.locator(".row.in .text code")).to_have_text("/start", timeout=30_000)

    page.screenshot(path=str(ARTIFACTS_DIR / "webchat.png"))
    assert not tiny_bot.errors

    calls = {c.method for c in server.calls if c.ok}
    assert {"sendChatAction", "sendPhoto", "sendMessage", "answerCallbackQuery", "editMessageText"} <= calls
    texts = [m.get("text") or m.get("caption") for m in server.chat_messages(100001)]
    assert texts[:4] == ["Привет <b>бот</b>!", "Солнце над морем", "Вы выбрали: Да", "Помощь"]


def test_users_switch_and_a_photo_upload_reaches_the_bot(
    server: BotApiStandIn, page: Page, tmp_path: Path
) -> None:
    updates: list[dict[str, Any]] = []
    server.on_update = updates.append
    page.goto(f"{server.base_url}/")
    expect(page.locator("#users li")).to_have_count(2)

    page.locator("#new-user-name").fill("Борис")
    page.locator("#new-user-lang").select_option("en")
    page.locator("#new-user button").click()
    expect(page.locator("#users li.active")).to_contain_text("Борис")
    expect(page.locator(".empty")).to_be_visible()

    image = tmp_path / "cat.png"
    image.write_bytes(picture())
    page.locator("#text").fill("подпись")
    page.locator("#attach-button").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#attach-menu button[data-kind=photo]").click()
    chooser.value.set_files(str(image))

    expect(page.locator(".row.out .media img")).to_be_visible(timeout=30_000)
    expect(page.locator(".row.out .text")).to_have_text("подпись")
    message = updates[-1]["message"]
    assert message["from"]["first_name"] == "Борис" and message["from"]["language_code"] == "en"
    assert message["caption"] == "подпись" and message["photo"][-1]["width"] == 480


def test_an_invoice_is_paid_from_the_page(server: BotApiStandIn, page: Page) -> None:
    tiny_bot = TinyBot(server)
    server.on_update = tiny_bot
    page.goto(f"{server.base_url}/")
    page.locator("#text").fill("/buy")
    page.locator("#text").press("Enter")

    card = page.locator(".invoice")
    expect(card).to_contain_text("100 кредитов", timeout=30_000)
    expect(card).to_contain_text("100 ★")
    card.locator(".pay-button").click()

    expect(page.locator(".service")).to_have_text("You paid 100 ★", timeout=30_000)
    expect(page.locator(".row.in .text", has_text="Спасибо!")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS_DIR / "webchat-invoice.png"))
    assert not tiny_bot.errors
    (pre_checkout,) = server.calls_for("answerPreCheckoutQuery")
    assert pre_checkout.params["ok"] is True


def bot_says(server: BotApiStandIn, chat_id: int, text: str, **params: Any) -> dict[str, Any]:
    """One Bot API call as the bot would make it (JSON over HTTP)."""
    request = urllib.request.Request(
        f"{server.base_url}/bot{TOKEN}/sendMessage",
        data=json.dumps({"chat_id": chat_id, "text": text, **params}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())["result"]
    return result


def test_after_a_reload_the_newest_reply_is_above_the_reply_keyboard(
    server: BotApiStandIn, page: Page
) -> None:
    server.flood = FloodLimits.disabled()
    keyboard = {"keyboard": [[{"text": "🎨 Создать"}, {"text": "💰 Баланс"}], [{"text": "❓ Помощь"}]]}
    bot_says(server, 100001, "Добро пожаловать!", reply_markup=keyboard)
    for n in range(12):
        bot_says(server, 100001, f"сообщение {n}\nвторая строка\nтретья строка")
    page.goto(f"{server.base_url}/")
    expect(page.locator(".row.in")).to_have_count(13)
    page.reload()
    expect(page.locator(".row.in")).to_have_count(13)
    expect(page.locator("#reply-keyboard button", has_text="Помощь")).to_be_visible()

    viewport = page.viewport_size
    assert viewport is not None
    for n in range(4):
        bot_says(server, 100001, f"ответ {n}\nещё строка\nи ещё одна")
        last = page.locator(".row.in").last
        expect(last).to_contain_text(f"ответ {n}")
        page.wait_for_timeout(300)  # any scrolling the page does after drawing
        bubble = last.locator(".bubble").bounding_box()
        keyboard_box = page.locator("#reply-keyboard").bounding_box()
        assert bubble is not None and keyboard_box is not None
        assert bubble["y"] >= 0 and bubble["y"] + bubble["height"] <= keyboard_box["y"] + 0.5, (
            f"reply {n}: bubble {bubble} is not above the keyboard at {keyboard_box['y']}"
        )
        assert bubble["y"] + bubble["height"] <= viewport["height"]


def test_links_in_text_are_clickable_and_safe(server: BotApiStandIn, page: Page) -> None:
    server.flood = FloodLimits.disabled()
    referral = "https://t.me/genbot_local_bot?start=ref_100001"
    bot_says(server, 100001, f"🤝 Приглашайте друзей по ссылке:\n{referral}\nСпасибо!")
    bot_says(
        server,
        100001,
        'Читайте <a href="https://example.org/terms">условия</a> и t.me/genbot_local_bot',
        parse_mode="HTML",
    )
    text = "сайт: example.com/путь и плохая ссылка"
    bot_says(
        server,
        100001,
        text,
        entities=[
            {"type": "url", "offset": 6, "length": 16},
            {"type": "text_link", "offset": len(text) - 6, "length": 6, "url": "javascript:alert(1)"},
        ],
    )
    bot_says(server, 100001, "код: <code>https://not.a.link/</code>", parse_mode="HTML")
    server.user_message(100001, 'смотри https://evil.example/"><img src=x onerror=alert(1)> вот')
    page.goto(f"{server.base_url}/")
    expect(page.locator(".row")).to_have_count(5)

    def link(href: str) -> Any:
        found = page.locator(f'.text a[href="{href}"]')
        expect(found).to_have_count(1)
        assert found.get_attribute("target") == "_blank"
        assert "noopener" in (found.get_attribute("rel") or "").split()
        return found

    expect(link(referral)).to_have_text(referral)
    expect(link("https://example.org/terms")).to_have_text("условия")
    expect(link("https://t.me/genbot_local_bot")).to_have_text("t.me/genbot_local_bot")
    expect(link("https://example.com/путь")).to_have_text("example.com/путь")
    # a javascript: link is shown as text, code stays code, the user's markup stays text
    assert page.locator('.text a[href^="javascript"]').count() == 0
    expect(page.locator(".text", has_text="плохая ссылка")).to_contain_text("плохая ссылка")
    assert page.locator(".text code a").count() == 0
    expect(page.locator(".text code")).to_have_text("https://not.a.link/")
    assert page.locator(".text img").count() == 0
    evil = page.locator(".row.out .text a")
    expect(evil).to_have_count(1)
    assert evil.get_attribute("href") == 'https://evil.example/"><img'
    expect(page.locator(".row.out .text")).to_have_text(
        'смотри https://evil.example/"><img src=x onerror=alert(1)> вот'
    )


def test_message_times_are_the_bots_clock_not_the_browsers(chromium: Any) -> None:
    """The bot writes ledger times as dd.mm HH:MM in its TIMEZONE; the bubbles use the same clock."""
    with BotApiStandIn(token=TOKEN, timezone="Europe/Moscow") as server:
        show_a_message_at_a_known_time(server, chromium)


def show_a_message_at_a_known_time(server: BotApiStandIn, chromium: Any) -> None:
    at = 1_700_000_000  # 2023-11-14 22:13:20 UTC = 01:13 in Moscow, 17:13 in New York
    server.inject_update(
        {
            "message": {
                "message_id": 1,
                "from": {"id": 100001, "is_bot": False, "first_name": "Анна"},
                "chat": {"id": 100001, "type": "private", "first_name": "Анна"},
                "date": at,
                "text": "который час?",
            }
        }
    )
    context = chromium.new_context(locale="en-US", timezone_id="America/New_York")
    page = context.new_page()
    page.goto(f"{server.base_url}/")
    meta = page.locator(".row.out .meta")
    expect(meta).to_have_text("01:13")
    assert "Europe/Moscow" in (meta.get_attribute("title") or "")
    assert "15.11" in (meta.get_attribute("title") or "")


def bot_calls(server: BotApiStandIn, method: str, **params: Any) -> Any:
    """Any Bot API method, as the bot would call it (JSON over HTTP); returns the result."""
    request = urllib.request.Request(
        f"{server.base_url}/bot{TOKEN}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["result"]


def test_a_streamed_draft_grows_in_place_and_the_answer_replaces_it(
    server: BotApiStandIn, page: Page
) -> None:
    server.flood = FloodLimits.disabled()
    page.goto(f"{server.base_url}/")
    expect(page.locator("#users li.active")).to_contain_text("Анна")
    server.user_message(100001, "Расскажи про Марс")
    expect(page.locator(".row.out .text")).to_have_text("Расскажи про Марс")

    assert bot_calls(server, "sendMessageDraft", chat_id=100001, draft_id=42, text="") is True
    draft = page.locator(".draft-row")
    expect(draft).to_have_count(1)
    expect(draft.locator(".thinking")).to_have_text("Thinking…")

    partial = "Марс — <b>холодная</b> планета"
    bot_calls(server, "sendMessageDraft", chat_id=100001, draft_id=42, text=partial, parse_mode="HTML")
    expect(draft.locator(".text strong")).to_have_text("холодная")
    expect(draft.locator(".text")).to_have_text("Марс — холодная планета")
    longer = (
        f"{partial}, <i>четвёртая</i> от Солнца.\n<blockquote>Средняя температура −60 °C</blockquote>\n"
        '<pre><code class="language-python">print("mars")</code></pre>\nСм. <a href="https://example.org/mars">обзор</a>'
    )
    bot_calls(server, "sendMessageDraft", chat_id=100001, draft_id=42, text=longer, parse_mode="HTML")
    expect(draft.locator(".text blockquote")).to_have_text("Средняя температура −60 °C")
    expect(draft).to_have_count(1)  # the same bubble, grown: not a second one
    page.screenshot(path=str(ARTIFACTS_DIR / "webchat-draft.png"))

    final = longer + "\n\nГотово."
    bot_says(server, 100001, final, parse_mode="HTML")
    expect(page.locator(".draft-row")).to_have_count(0)
    answer = page.locator(".row.in").last
    expect(answer.locator(".text")).to_contain_text("Готово.")
    expect(answer.locator(".text strong")).to_have_text("холодная")
    expect(answer.locator(".text em")).to_have_text("четвёртая")
    expect(answer.locator(".text blockquote")).to_have_text("Средняя температура −60 °C")
    expect(answer.locator(".text pre")).to_have_text('print("mars")')
    assert answer.locator(".text pre").get_attribute("data-language") == "python"
    expect(answer.locator('.text a[href="https://example.org/mars"]')).to_have_text("обзор")
    assert "<b>" not in (answer.locator(".text").text_content() or "")
    expect(page.locator(".row.in")).to_have_count(1)
    assert server.drafts(100001) == {}
    assert [c.ok for c in server.calls_for("sendMessageDraft")] == [True, True, True]


def test_the_cabinet_button_appears_when_the_stack_adds_the_cabinet_after_the_page_loaded(
    server: BotApiStandIn, page: Page
) -> None:
    """``genbot dev`` starts the stand-in (and its page) before the front door that serves the
    cabinet: a page opened in between learns of the cabinet without a reload."""
    page.goto(f"{server.base_url}/")
    expect(page.locator("#bot-name")).to_have_text("genbot @genbot_local_bot")
    expect(page.locator("#menu-button")).to_be_hidden()

    server.webapp_url = "http://127.0.0.1:9/app/"  # as the stack sets it once its front door is up

    expect(page.locator("#menu-button")).to_be_visible(timeout=15_000)
