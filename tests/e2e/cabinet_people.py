"""What the cabinet's browser tests share: a person using the bot through the local stack's
Bot API stand-in, and the Mini App opened in Chromium the way Telegram opens it."""

from __future__ import annotations

from typing import Any

from genbot.store.models import User
from genbot_local.botapi.webchat import webapp_launch_url
from genbot_local.simulate import eventually
from genbot_local.stack import LocalStack

WAIT = 60  # seconds: a bound, never an expectation
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


class Person:
    """Someone using the bot through the stand-in (updates go getUpdates -> webhook), and their
    cabinet's launch URL."""

    def __init__(self, stack: LocalStack, user_id: int, first_name: str, language: str = "ru") -> None:
        self.stack, self.standin, self.user_id = stack, stack.standin, user_id
        self.first_name, self.language = first_name, language

    def _processed(self, update: dict[str, Any]) -> None:
        poller = self.stack.poller
        eventually(lambda: (poller.offset or 0) > update["update_id"], what=f"update {update['update_id']}")

    def say(self, text: str) -> None:
        self._processed(
            self.standin.user_message(
                self.user_id, text, first_name=self.first_name, language_code=self.language
            )
        )

    def send_photo(self, image: bytes, caption: str | None = None) -> None:
        self._processed(self.standin.user_photo(self.user_id, image, caption=caption))

    def press(self, label: str) -> None:
        for message in reversed(self.standin.chat_messages(self.user_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"] and "callback_data" in button:
                        update = self.standin.user_callback(
                            self.user_id, message["message_id"], button["callback_data"]
                        )
                        self._processed(update)
                        return
        raise AssertionError(f"no button {label!r} in the chat")

    def sent(self, method: str) -> list[Any]:
        return [
            c for c in self.standin.calls_for(method) if str(c.params.get("chat_id")) == str(self.user_id)
        ]

    def wait_sent(self, method: str, count: int = 1) -> Any:
        return eventually(lambda: len(self.sent(method)) >= count, what=method)

    def launch_url(self, scheme: str = "light", *, auth_date: int | None = None) -> str:
        user = {"id": self.user_id, "first_name": self.first_name, "language_code": self.language}
        return webapp_launch_url(
            str(self.stack.cabinet_url), self.stack.bot_token, user, scheme, auth_date=auth_date
        )

    def make_a_picture(self, prompt: str) -> None:
        """Through the bot's menus, as a person would ("refuse" in the prompt: the fake refuses)."""
        self.say("🎨 Создать")
        self.press("Картинка по описанию")
        self.press("Стандарт")
        self.say(prompt)
        self.press("Запустить")

    def balance(self) -> int:
        return int(User.get(self.user_id, consistent_read=True).balance)


def open_cabinet(chromium: Any, url: str, viewport: dict[str, int]) -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    page = chromium.new_page(viewport=viewport)
    page.set_default_timeout(WAIT * 1000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400
            and not response.url.endswith("/favicon.ico")
            and "/cabinet/" not in response.url
            else None
        ),
    )
    page.problems = problems
    page.goto(url)
    return page
