"""A Telegram user, for tests: sends messages and presses buttons through the real webhook."""

from __future__ import annotations

from typing import Any

from tests.helpers import deliver, reply_body, telegram_update


class ChatUser:
    """Walks the bot's UI as a person would; every step is a real update through the webhook."""

    def __init__(self, telegram: Any, user_id: int, language: str = "ru") -> None:
        self.telegram = telegram
        self.user_id = user_id
        self.language = language
        self.last: dict[str, Any] = {}
        self.last_message_id = 1

    SHOWN = ("sendmessage", "editmessagetext", "answercallbackquery", "sendphoto", "sendvideo")

    def _deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver, then read what the user now sees: the bot's last message or alert.

        The bot answers in the webhook response or by calling the Bot API itself (when it
        needs the new message's id); the stand-in records both, in the order they happened.
        """
        before = len(self.telegram.calls)
        response = deliver(update)
        shown = [c for c in self.telegram.calls[before:] if c.method.lower() in self.SHOWN]
        shown = [c for c in shown if c.method.lower() != "answercallbackquery" or c.params.get("text")]
        self.last = {"method": shown[-1].method, **shown[-1].params} if shown else reply_body(response)
        for call in reversed(shown):
            if isinstance(call.result, dict) and "message_id" in call.result:
                self.last_message_id = call.result["message_id"]
                break
        return self.last

    def send(self, text: str) -> dict[str, Any]:
        update = telegram_update("message_text", user_id=self.user_id, text=text)
        update["message"]["from"]["language_code"] = self.language
        return self._deliver(update)

    def start(self) -> dict[str, Any]:
        return self.send("/start")

    def press(self, callback_data: str, message_id: int | None = None) -> dict[str, Any]:
        update = telegram_update("callback_query", user_id=self.user_id, data=callback_data)
        update["callback_query"]["message"]["message_id"] = message_id or self.last_message_id
        return self._deliver(update)

    def send_photo(
        self,
        image: bytes,
        *,
        caption: str | None = None,
        as_document: bool = False,
        mime_type: str = "image/jpeg",
        file_name: str = "photo.jpg",
    ) -> dict[str, Any]:
        update = self.telegram.user_photo(
            self.user_id,
            image,
            caption=caption,
            as_document=as_document,
            mime_type=mime_type,
            file_name=file_name,
        )
        update["update_id"] = telegram_update("message_text")["update_id"]
        return self._deliver(update)

    def buttons(self) -> dict[str, str]:
        """Inline buttons of the last reply: text -> callback data."""
        markup = self.last.get("reply_markup") or {}
        return {
            b["text"]: b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row
        }

    def press_button(self, label_part: str) -> dict[str, Any]:
        for text, data in self.buttons().items():
            if label_part in text:
                return self.press(data)
        raise AssertionError(f"no button with {label_part!r} in {list(self.buttons())}")
