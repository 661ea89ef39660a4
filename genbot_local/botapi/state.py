"""The Bot API stand-in's state: chats and their messages, users, pending updates, flood buckets.

Shared by the Bot API methods (``methods.py``), the HTTP server (``server.py``) and the web
chat (``webchat.py``). One re-entrant lock guards it, because tests call the helpers here
(``inject_update``, ``user_message`` ...) from their own threads while the server's loop
thread answers requests; waiters in the loop (getUpdates, the web chat's long poll) are woken
through ``_notify`` whenever something changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from genbot_local.botapi import text as fmt
from genbot_local.botapi.files import FileStore, image_size, media_object
from genbot_local.botapi.model import (
    CHAT_METHODS,
    DRAFT_SECONDS,
    ApiError,
    Bucket,
    ChatState,
    FloodLimits,
    SimUser,
    deep_copy,
)
from genbot_local.botapi.text import BadRequest

log = logging.getLogger("genbot-local.botapi")


class StandInState:
    """Everything the stand-in remembers, and the helpers tests use to play the user's side."""

    def __init__(
        self,
        token: str,
        bot_username: str,
        *,
        bot_first_name: str,
        flood: FloodLimits | None,
        users: list[SimUser] | None,
    ) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.flood = flood if flood is not None else FloodLimits.disabled()
        self.on_update: Callable[[dict[str, Any]], Any] | None = None
        self.files = FileStore()
        self._lock = threading.RLock()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self._webhook: dict[str, Any] = {}
        self._chats: dict[int, ChatState] = {}
        self._users: dict[int, SimUser] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._pre_checkouts: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._invoices: dict[tuple[int, int], dict[str, Any]] = {}
        self._invoice_links: dict[str, dict[str, Any]] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._global_bucket: Bucket | None = None
        self._toast_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._callback_queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        for user in users or [
            SimUser(100001, "Анна", "ru", "anna_local"),
            SimUser(100002, "John", "en", "john_local"),
        ]:
            self._users[user.id] = user

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _wake(self) -> None:
        """Runs in the loop: every waiter (getUpdates, web chat polls) re-checks its condition."""
        if self._changed is not None:
            old, self._changed = self._changed, asyncio.Event()
            old.set()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    async def wait_change(self, check: Callable[[], Any], seconds: float) -> Any:
        """Await ``check()`` becoming truthy (re-checked on every state change), at most ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0)
        while True:
            result = check()
            remaining = deadline - loop.time()
            if result or remaining <= 0 or self._closing or self._changed is None:
                return result
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # -- chats, users, flood ------------------------------------------------------------------

    def _chat(self, chat_id: int) -> ChatState:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                user = self._users.get(chat_id)
                if user is not None:
                    obj = user.as_chat()
                elif chat_id > 0:
                    obj = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
                else:
                    obj = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
                chat = self._chats[chat_id] = ChatState(chat_id, obj)
            return chat

    def _target(self, params: dict[str, Any], method: str) -> ChatState:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise BadRequest("chat_id is empty")
        if not isinstance(chat_id, int) or chat_id == 0:
            raise BadRequest("chat not found")
        chat = self._chat(chat_id)
        if chat.blocked and method.lower() in CHAT_METHODS:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _flood_check(self, chat: ChatState) -> None:
        limits = self.flood
        if not limits.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if chat.bucket is None:
                chat.bucket = Bucket(float(limits.per_chat_burst), limits.per_chat_rate)
            if self._global_bucket is None:
                burst = limits.global_burst if limits.global_burst is not None else limits.global_rate
                self._global_bucket = Bucket(float(max(burst, 1)), limits.global_rate)
            wait = chat.bucket.take(now)
            if wait == 0:
                wait = self._global_bucket.take(now)
                if wait > 0:
                    chat.bucket.tokens += 1  # not sent: give the chat its token back
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _in_place_flood_check(self, chat: ChatState, kind: str) -> None:
        """Flood control for updates in place: ``kind`` "edit" or "draft" (see FloodLimits)."""
        limits = self.flood
        burst, rate = (
            (limits.edit_burst, limits.edit_rate)
            if kind == "edit"
            else (limits.draft_burst, limits.draft_rate)
        )
        if not limits.enabled or burst <= 0:
            return
        with self._lock:
            bucket = chat.edit_bucket if kind == "edit" else chat.draft_bucket
            if bucket is None:
                bucket = Bucket(float(burst), rate)
                if kind == "edit":
                    chat.edit_bucket = bucket
                else:
                    chat.draft_bucket = bucket
            wait = bucket.take(time.monotonic())
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _touch(self, chat: ChatState) -> None:
        chat.version += 1
        self._notify()

    def _add_message(self, chat: ChatState, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat.messages[message["message_id"]] = message
            chat.next_id = max(chat.next_id, message["message_id"] + 1)
            self._touch(chat)
        return deep_copy(message)

    def _bot_message(self, chat: ChatState, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        """Create a bot message in ``chat`` (after the flood check) with Telegram's common fields."""
        with self._lock:
            reply = self._reply_to(chat, params)
        self._flood_check(chat)
        with self._lock:
            message: dict[str, Any] = {
                "message_id": chat.next_id,
                "from": self.bot_user,
                "chat": dict(chat.chat),
                "date": int(time.time()),
            }
            if reply is not None:
                message["reply_to_message"] = reply
            message.update({k: v for k, v in content.items() if v not in (None, [], "")})
            if message.get("reply_markup") is not None:
                markup = message["reply_markup"]
                if "keyboard" in markup:
                    chat.reply_keyboard = markup
                elif markup.get("remove_keyboard"):
                    chat.reply_keyboard = None
                if "inline_keyboard" not in markup:
                    del message["reply_markup"]  # only inline keyboards are part of a Message
            if params.get("protect_content"):
                message["has_protected_content"] = True
            chat.action = None
            chat.drafts.clear()  # a real message replaces the drafts streamed before it
            return self._add_message(chat, message)

    def _reply_to(self, chat: ChatState, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        reply = fmt.decode_json_param(reply, "reply parameters") if reply else None
        target = (reply or {}).get("message_id") or params.get("reply_to_message_id")
        if not target:
            return None
        found = chat.messages.get(int(target))
        if found is None:
            if (reply or {}).get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return None
            raise BadRequest("message to be replied not found")
        return {k: v for k, v in found.items() if k != "reply_to_message"}

    # -- updates ------------------------------------------------------------------------------

    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (or hand it to ``on_update``); assigns update_id if missing.

        A message in it joins its chat's history (so the bot can reply to it and the web chat
        shows it).
        """
        update = deep_copy(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = max(next(self._update_ids), self._last_update_id + 1)
            self._last_update_id = max(self._last_update_id, int(update["update_id"]))
            message = update.get("message")
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                chat = self._chat(int(message["chat"]["id"]))
                if message.get("message_id") not in chat.messages:
                    if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
                        chat.reply_keyboard = None
                    self._add_message(chat, deep_copy(message))
            if self.on_update is None:
                self._updates.append(update)
                self._notify()
        if self.on_update is not None:
            self._callback_queue.put(deep_copy(update))
        return update

    def _run_callbacks(self) -> None:
        while (update := self._callback_queue.get()) is not None:
            callback = self.on_update
            if callback is None:
                with self._lock:
                    self._updates.append(update)
                self._notify()
                continue
            try:
                callback(update)
            except Exception:
                log.exception("on_update callback failed for update %s", update.get("update_id"))

    def _next_message_id(self, chat: ChatState) -> int:
        with self._lock:
            message_id = chat.next_id
            chat.next_id += 1
            return message_id

    def _user(self, user_id: int, **details: Any) -> SimUser:
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                user = self._users[user_id] = SimUser(user_id)
            for key, value in details.items():
                if value is not None:
                    setattr(user, key, value)
            chat = self._chats.get(user_id)
            if chat is not None:
                chat.chat = user.as_chat()
            return user

    def _user_message_update(self, user: SimUser, **content: Any) -> dict[str, Any]:
        chat = self._chat(user.id)
        message = {
            "message_id": self._next_message_id(chat),
            "from": user.as_user(),
            "chat": user.as_chat(),
            "date": int(time.time()),
            **content,
        }
        return self.inject_update({"message": message})

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        language_code: str = "ru",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A text message from a user (commands get their bot_command entity), injected."""
        known = self._users.get(user_id)
        if known is not None and first_name == "Test":
            user = self._user(user_id, username=username)
        else:
            user = self._user(user_id, first_name=first_name, language_code=language_code, username=username)
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"offset": 0, "length": fmt.utf16_len(command), "type": "bot_command"}]
        return self._user_message_update(user, **content)

    def user_photo(
        self,
        user_id: int,
        image_bytes: bytes,
        *,
        caption: str | None = None,
        as_document: bool = False,
        mime_type: str = "image/jpeg",
        file_name: str = "photo.jpg",
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A photo from a user (several PhotoSize, or a Document when sent "as file"), injected.

        As a photo it is scaled down as Telegram does (longest side at most 1280 px, JPEG
        thumbnails, each size's own file_size); as a file the bytes are kept as sent (getFile
        refuses files over 20 MB, as for any download). Either way getFile and the download
        URL return the stored bytes.
        """
        user = self._user(user_id, first_name=first_name, language_code=language_code)
        content: dict[str, Any] = {}
        if as_document:
            size = image_size(image_bytes)
            stored = self.files.add(
                "document",
                image_bytes,
                mime_type=mime_type,
                file_name=file_name,
                width=size[0] if size else 0,
                height=size[1] if size else 0,
            )
            content["document"] = media_object(stored, "document", {})
        else:
            content["photo"] = self.files.add_user_photo(image_bytes)
        if caption:
            content["caption"] = caption
        return self._user_message_update(user, **content)

    def user_voice(
        self,
        user_id: int,
        ogg_bytes: bytes,
        duration: int,
        *,
        mime_type: str = "audio/ogg",
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A voice message from a user (OGG/Opus as Telegram's apps record it), injected.

        The message carries ``voice`` (file_id, file_unique_id, duration, mime_type, file_size);
        getFile gives a ``voice/file_N.oga`` path and the download URL the bytes as sent (the
        stand-in never decodes audio).
        """
        user = self._user(user_id, first_name=first_name, language_code=language_code)
        stored = self.files.add("voice", ogg_bytes, mime_type=mime_type, file_name="voice.oga")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": int(duration),
            "mime_type": mime_type,
            "file_size": stored.size,
        }
        return self._user_message_update(user, voice=voice)

    def user_callback(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A press on an inline button of a bot message: a callback_query update, injected."""
        user = self._user(user_id)
        chat = self._chat(user_id)
        with self._lock:
            message = deep_copy(chat.messages.get(message_id))
            query_id = str(secrets.randbelow(9 * 10**18) + 10**18)
            self._callbacks[query_id] = {"chat_id": user_id, "answered": False, "at": time.time()}
        if message is None:  # deleted or never sent: Telegram sends an InaccessibleMessage
            message = {"chat": dict(chat.chat), "message_id": message_id, "date": 0}
        query = {
            "id": query_id,
            "from": user.as_user(),
            "message": message,
            "chat_instance": str(-(10**18) - user_id),
            "data": data,
        }
        return self.inject_update({"callback_query": query})

    def pre_checkout(
        self, user_id: int, payload: str, total_amount: int, currency: str = "XTR"
    ) -> dict[str, Any]:
        """A pre_checkout_query (the user pressed Pay), injected; the bot must answer within 10 s."""
        return self._pre_checkout(user_id, payload, total_amount, currency, {})

    def _pre_checkout(
        self, user_id: int, payload: str, total_amount: int, currency: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        user = self._user(user_id)
        query_id = str(secrets.randbelow(9 * 10**18) + 10**18)
        with self._lock:  # registered before the bot can see (and answer) the query
            self._pre_checkouts[query_id] = {"user_id": user_id, "answered": False, **extra}
        query = {
            "id": query_id,
            "from": user.as_user(),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
        }
        return self.inject_update({"pre_checkout_query": query})

    def successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str,
        currency: str = "XTR",
        **subscription_fields: Any,
    ) -> dict[str, Any]:
        """A message with successful_payment (e.g. subscription_expiration_date=..., is_recurring=True)."""
        user = self._user(user_id)
        with self._lock:
            self._charges[charge_id] = {"user_id": user_id, "refunded": False, "amount": total_amount}
        payment = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
            **subscription_fields,
        }
        return self._user_message_update(user, successful_payment=payment)

    def block(self, user_id: int) -> None:
        """The user blocked the bot: sends to them answer 403 until ``unblock``."""
        with self._lock:
            self._chat(user_id).blocked = True

    def unblock(self, user_id: int) -> None:
        with self._lock:
            self._chat(user_id).blocked = False

    def drafts(self, chat_id: int) -> dict[int, dict[str, Any]]:
        """The chat's drafts the user sees now (sendMessageDraft), by draft_id.

        Each is ``{"draft_id", "text", "entities", "message_thread_id", "updates", "at"}``
        (``updates``: how many calls shaped it). A draft goes away when the bot sends a message
        to the chat, or 30 s after its last update.
        """
        with self._lock:
            chat = self._chats.get(chat_id)
            return {d["draft_id"]: deep_copy(d) for d in self._live_drafts(chat)} if chat else {}

    def _live_drafts(self, chat: ChatState) -> list[dict[str, Any]]:
        now = time.monotonic()
        for draft_id in [k for k, d in chat.drafts.items() if now - d["at"] > DRAFT_SECONDS]:
            del chat.drafts[draft_id]
        return list(chat.drafts.values())

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as the user sees it now: bot and user messages in order, edits applied."""
        with self._lock:
            chat = self._chats.get(chat_id)
            return deep_copy(list(chat.messages.values())) if chat else []

    def users(self) -> list[SimUser]:
        with self._lock:
            return list(self._users.values())

    def add_user(self, first_name: str, language_code: str = "ru", user_id: int | None = None) -> SimUser:
        """A new simulated user (web chat's "new user")."""
        with self._lock:
            new_id = user_id or max([100000, *self._users]) + 1
            return self._user(new_id, first_name=first_name, language_code=language_code)

    def toast(self, chat_id: int, text: str, *, show_alert: bool = False) -> None:
        """Show a notice in the web chat (answerCallbackQuery text, payment results)."""
        with self._lock:
            chat = self._chat(chat_id)
            chat.toasts.append({"id": next(self._toast_ids), "text": text, "show_alert": show_alert})
            del chat.toasts[:-20]
            self._touch(chat)

    # -- for the web chat ---------------------------------------------------------------------

    def chat_state(self, chat_id: int) -> dict[str, Any]:
        """Messages, reply keyboard, chat action and notices of a chat, with its version."""
        with self._lock:
            chat = self._chat(chat_id)
            remaining = chat.action_until - time.time() if chat.action else 0
            return {
                "version": chat.version,
                "messages": deep_copy(list(chat.messages.values())),
                "reply_keyboard": deep_copy(chat.reply_keyboard),
                "action": chat.action if remaining > 0 else None,
                "action_ms": int(remaining * 1000) if remaining > 0 else 0,
                "toasts": list(chat.toasts),
                "drafts": [
                    {
                        "draft_id": d["draft_id"],
                        "text": d["text"],
                        "entities": deep_copy(d["entities"]),
                        "ms_left": max(0, int((DRAFT_SECONDS - (time.monotonic() - d["at"])) * 1000)),
                    }
                    for d in self._live_drafts(chat)
                ],
            }

    def chat_version(self, chat_id: int) -> int:
        with self._lock:
            return self._chat(chat_id).version
