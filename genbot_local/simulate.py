"""Telegram's side of a webhook, and a simulated user who walks the bot through it.

For tests and benches that drive the ``webhook`` function in-process (``genbot_local.invoke``)
rather than through the local stack's getUpdates poller:

- ``RecordedEvents`` builds events from recorded real shapes (``tests/events``): a Telegram
  update with a fresh ``update_id``, a chosen user and changed fields; the API Gateway HTTP API
  event Telegram's POST becomes, secret header included;
- ``Webhook.deliver`` is what Telegram does with an update: POST it (invoke the function), then
  perform the Bot API method the response carries (``genbot_local.telegram_bridge``);
- ``ChatUser`` sends texts and photos and presses buttons through a ``Webhook``, and reads what
  the user now sees from the Bot API stand-in's record of calls.

The module-level ``telegram_update``, ``api_event`` and ``load_event`` use the repository's
``tests/events`` (benches have no fixtures); tests get the same from ``tests/conftest.py``.
"""

from __future__ import annotations

import copy
import enum
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from genbot_local.invoke import ROOT, invoke

if TYPE_CHECKING:
    from genbot_local.botapi import BotApiStandIn

EVENTS = ROOT / "tests" / "events"
# The token and webhook secret the simulation's functions run with (tests and benches set
# BOT_TOKEN / WEBHOOK_SECRET to these; the stand-in serves this token).
BOT_TOKEN: Final = "7000000001:TEST-token-for-genbot_0123456789"  # noqa: S105 (a test token)
WEBHOOK_SECRET: Final = "test-webhook-secret_0123456789"  # noqa: S105 (a test secret)
SECRET_HEADER: Final = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)

_update_ids = itertools.count(100_000)  # one sequence per process: no two updates share an id


class _Own(enum.Enum):
    """The default of ``Webhook.deliver(secret=...)``: the webhook's own secret."""

    SECRET = enum.auto()


OWN_SECRET: Final = _Own.SECRET


def next_update_id() -> int:
    return next(_update_ids)


class RecordedEvents:
    """Events built from the recorded real shapes in ``directory`` (``tests/events``)."""

    def __init__(self, directory: Path = EVENTS) -> None:
        self.directory = directory

    def load(self, name: str) -> dict[str, Any]:
        """The recorded event ``name`` (a path under the directory), as stored."""
        event: dict[str, Any] = json.loads((self.directory / name).read_text(encoding="utf-8"))
        return event

    def telegram_update(self, name: str, *, user_id: int | None = None, **changes: Any) -> dict[str, Any]:
        """A Telegram update from ``telegram/<name>.json`` with a fresh update_id.

        ``user_id`` rewrites the sender and chat; other keyword arguments replace fields of the
        update's payload object (``text="/balance"`` on a message, ``data=...`` on a callback).
        """
        update = self.load(f"telegram/{name}.json")
        update["update_id"] = next_update_id()
        payload_key = next(k for k in update if k != "update_id")
        payload = update[payload_key]
        if user_id is not None:
            _rewrite_user(payload, user_id)
        payload.update(changes)
        if payload_key in ("callback_query", "pre_checkout_query") and "id" not in changes:
            payload["id"] = str(7_000_000_000_000_000_000 + update["update_id"])  # unique per press
        if payload_key == "message" and "message_id" not in changes:
            payload["message_id"] = update["update_id"]  # unique in the chat, as Telegram's are
        if payload_key == "message" and "text" in changes:
            text = changes["text"]
            payload.pop("entities", None)
            if text.startswith("/"):
                payload["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        return update

    def api_event(self, update: dict[str, Any] | str, *, secret: str | None) -> dict[str, Any]:
        """API Gateway HTTP API (payload 2.0) event carrying ``update`` as Telegram sends it.

        ``secret`` is the secret-token header's value; None sends no header at all.
        """
        event = copy.deepcopy(self.load("apigw_http_telegram.json"))
        body = update if isinstance(update, str) else json.dumps(update, ensure_ascii=False)
        event["body"] = body
        event["headers"]["content-length"] = str(len(body.encode()))
        if secret is None:
            del event["headers"][SECRET_HEADER]
        else:
            event["headers"][SECRET_HEADER] = secret
        return event


def _rewrite_user(node: Any, user_id: int) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("from", "chat") and isinstance(value, dict) and not value.get("is_bot"):
                value["id"] = user_id
            else:
                _rewrite_user(value, user_id)
    elif isinstance(node, list):
        for item in node:
            _rewrite_user(item, user_id)


_recorded = RecordedEvents()


def load_event(name: str) -> dict[str, Any]:
    return _recorded.load(name)


def telegram_update(name: str, *, user_id: int | None = None, **changes: Any) -> dict[str, Any]:
    return _recorded.telegram_update(name, user_id=user_id, **changes)


def api_event(update: dict[str, Any] | str, *, secret: str | None = WEBHOOK_SECRET) -> dict[str, Any]:
    return _recorded.api_event(update, secret=secret)


def reply_body(response: dict[str, Any]) -> dict[str, Any]:
    """The Bot API call a webhook response carries (``{}`` when it carries none)."""
    body: dict[str, Any] = json.loads(response["body"]) if response.get("body") else {}
    return body


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """A Lambda SQS event for messages received from SQS (the local event source's own records)."""
    from genbot_local.sqs_driver import to_record

    region = queue_arn.split(":")[3]
    return {"Records": [to_record(message, queue_arn, region) for message in messages]}


@dataclass
class Webhook:
    """Telegram delivering updates to the ``webhook`` function, invoked in this process.

    ``api_url`` is the Bot API that performs the method a response carries (the stand-in's
    ``base_url``); None: nobody performs it (the response is returned as it is).
    """

    api_url: str | None
    token: str = BOT_TOKEN
    secret: str = WEBHOOK_SECRET
    events: RecordedEvents = field(default_factory=RecordedEvents)
    function: str = "webhook"

    def deliver(
        self, update: dict[str, Any] | str, *, secret: str | _Own | None = OWN_SECRET
    ) -> dict[str, Any]:
        """Invoke the function with ``update``, then perform its reply method (if any).

        ``secret`` overrides the secret-token header (None: no header), as a forger would.
        The Bot API's answer to the reply method is in ``response["telegram_result"]``.
        """
        from genbot_local.telegram_bridge import perform_webhook_reply

        if isinstance(secret, _Own):
            secret = self.secret
        response: dict[str, Any] = invoke(self.function, self.events.api_event(update, secret=secret))
        if self.api_url:
            response["telegram_result"] = perform_webhook_reply(self.api_url, self.token, response)
        return response


class ChatUser:
    """Walks the bot's UI as a person would; every step is a real update through the webhook.

    ``telegram`` is the Bot API stand-in the bot talks to; what the user sees is read from
    its record of calls. ``webhook`` defaults to one whose replies the stand-in performs.
    """

    SHOWN = ("sendmessage", "editmessagetext", "answercallbackquery", "sendphoto", "sendvideo")

    def __init__(
        self, telegram: BotApiStandIn, user_id: int, language: str = "ru", *, webhook: Webhook | None = None
    ) -> None:
        self.telegram = telegram
        self.user_id = user_id
        self.language = language
        self.webhook = webhook or Webhook(api_url=telegram.base_url)
        self.last: dict[str, Any] = {}
        self.last_message_id = 1
        self.last_update: dict[str, Any] = {}

    def _deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver, then read what the user now sees: the bot's last message or alert.

        The bot answers in the webhook response or by calling the Bot API itself (when it
        needs the new message's id); the stand-in records both, in the order they happened.
        An answer to a callback query counts only if it answers this update's query: a tap
        delivered at the same time (a double tap) may record its answer after this one's.
        """
        self.last_update = update
        own_query = (update.get("callback_query") or {}).get("id")
        before = len(self.telegram.calls)
        response = self.webhook.deliver(update)
        shown = [c for c in self.telegram.calls[before:] if c.method.lower() in self.SHOWN]
        shown = [
            c
            for c in shown
            if c.method.lower() != "answercallbackquery"
            or (c.params.get("text") and str(c.params.get("callback_query_id")) == own_query)
        ]
        self.last = {"method": shown[-1].method, **shown[-1].params} if shown else reply_body(response)
        for call in reversed(shown):
            if isinstance(call.result, dict) and "message_id" in call.result:
                self.last_message_id = call.result["message_id"]
                break
        return self.last

    def redeliver(self) -> dict[str, Any]:
        """Telegram delivers the last update again (it got no 2xx for it, or sends it twice)."""
        return self._deliver(self.last_update)

    def send(self, text: str) -> dict[str, Any]:
        update = self.webhook.events.telegram_update("message_text", user_id=self.user_id, text=text)
        update["message"]["from"]["language_code"] = self.language
        return self._deliver(update)

    def start(self) -> dict[str, Any]:
        return self.send("/start")

    def press(self, callback_data: str, message_id: int | None = None) -> dict[str, Any]:
        """A press on a button of message ``message_id`` (default: the last one). The update
        carries that message as the chat shows it now (its text and keyboard), as Telegram's
        does; a message the stand-in never saw keeps the recorded event's."""
        update = self.webhook.events.telegram_update(
            "callback_query", user_id=self.user_id, data=callback_data
        )
        wanted = message_id or self.last_message_id
        shown = [m for m in self.telegram.chat_messages(self.user_id) if m.get("message_id") == wanted]
        if shown:
            update["callback_query"]["message"] = shown[-1]
        update["callback_query"]["message"]["message_id"] = wanted
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
        update["update_id"] = next_update_id()
        return self._deliver(update)

    def send_voice(self, ogg_bytes: bytes, duration: int, *, mime_type: str = "audio/ogg") -> dict[str, Any]:
        """A voice message: ``message.voice`` with a file_id the bot can getFile and download."""
        update = self.telegram.user_voice(self.user_id, ogg_bytes, duration, mime_type=mime_type)
        update["update_id"] = next_update_id()
        update["message"]["from"]["language_code"] = self.language
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


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (its value) or ``timeout`` seconds pass
    (AssertionError naming ``what``). A bound for asynchronous work, never an expectation of
    speed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
