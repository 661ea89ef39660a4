"""The Bot API methods the stand-in answers, with Telegram's checks and error descriptions.

Each ``_m_<method>(params, files)`` gets the decoded parameters (uploads under
``params["__uploads__"]``), fills ``files`` with the bytes it used, and returns the result or
raises BadRequest (400) / ApiError (403, 409, 429 ...).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from genbot_local.botapi import text as fmt
from genbot_local.botapi.files import (
    DOWNLOAD_LIMIT,
    FILE_UPLOAD_LIMIT,
    PHOTO_UPLOAD_LIMIT,
    StoredFile,
    image_size,
    media_object,
)
from genbot_local.botapi.model import (
    ACTION_SECONDS,
    CHAT_ACTIONS,
    NOT_MODIFIED,
    SUBSCRIPTION_PERIOD,
    ApiError,
    ChatState,
    deep_copy,
    is_loopback,
)
from genbot_local.botapi.state import StandInState
from genbot_local.botapi.text import BadRequest

METHODS = (
    *("getMe", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo"),
    *("sendMessage", "sendPhoto", "sendVideo", "sendDocument", "sendAnimation", "sendChatAction"),
    *("editMessageText", "editMessageCaption", "editMessageReplyMarkup", "deleteMessage"),
    *("answerCallbackQuery", "getFile", "setMyCommands", "getMyCommands", "deleteMyCommands"),
    *("sendInvoice", "createInvoiceLink", "answerPreCheckoutQuery", "refundStarPayment"),
    "editUserStarSubscription",
    "sendMessageDraft",
)


class BotApiMethods(StandInState):
    """The Bot API as Telegram answers it, over the shared state."""

    # -- methods: bot, updates, webhook -------------------------------------------------------

    async def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if self._webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        with self._lock:
            if isinstance(allowed, list):
                self._allowed_updates = set(allowed) or None
            self._poll_generation += 1
            generation = self._poll_generation
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
        self._wake()

        def ready() -> list[dict[str, Any]] | str:
            with self._lock:
                if self._poll_generation != generation:
                    return "superseded"
                allowed_kinds = self._allowed_updates
                if allowed_kinds is not None:
                    self._updates = [
                        u for u in self._updates if any(k in allowed_kinds for k in u if k != "update_id")
                    ]
                return deep_copy(self._updates[:limit])

        found = await self.wait_change(ready, timeout)
        if found == "superseded":
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return found

    async def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(params, files)
        if not url.startswith("https://"):
            raise BadRequest("bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            self._webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "max_connections": int(params.get("max_connections") or 40),
                "allowed_updates": params.get("allowed_updates"),
            }
            if params.get("drop_pending_updates"):
                self._updates.clear()
        self._notify()
        return True, "Webhook was set"

    async def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            had = bool(self._webhook.get("url"))
            self._webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True, "Webhook was deleted" if had else "Webhook is already deleted"

    async def _m_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            info: dict[str, Any] = {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if info["url"]:
                info["max_connections"] = self._webhook["max_connections"]
                info["ip_address"] = "127.0.0.1"
                if self._webhook.get("allowed_updates"):
                    info["allowed_updates"] = self._webhook["allowed_updates"]
            return info

    async def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        commands = fmt.decode_json_param(params.get("commands"), "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BadRequest("can't parse commands JSON object")
        for command in commands:
            name = (command or {}).get("command", "")
            if not isinstance(name, str) or not 1 <= len(name) <= 32 or not name.replace("_", "a").isalnum():
                raise BadRequest("BOT_COMMAND_INVALID")
            if name.lower() != name or not name.isascii():
                raise BadRequest("BOT_COMMAND_INVALID")
            description = (command or {}).get("description", "")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise BadRequest("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._lock:
            self._commands[self._commands_key(params)] = commands
        return True

    def _commands_key(self, params: dict[str, Any]) -> str:
        scope = fmt.decode_json_param(params.get("scope") or {}, "scope")
        return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"

    async def _m_getMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            return deep_copy(self._commands.get(self._commands_key(params), []))

    async def _m_deleteMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        with self._lock:
            self._commands.pop(self._commands_key(params), None)
        return True

    def commands(self, language_code: str = "") -> list[dict[str, Any]]:
        """The command menu for a language (falls back to the default one), for the web chat."""
        with self._lock:
            default = f"{json.dumps({}, sort_keys=True)}|"
            scoped = f"{json.dumps({'type': 'default'}, sort_keys=True)}|"
            for key in (f"{default}{language_code}", f"{scoped}{language_code}", default, scoped):
                if self._commands.get(key):
                    return deep_copy(self._commands[key])
            return []

    # -- methods: sending ---------------------------------------------------------------------

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._target(params, "sendMessage")
        text, entities = fmt.formatted(params.get("text"), params.get("parse_mode"), params.get("entities"))
        fmt.check_text(text)
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        return self._bot_message(chat, params, text=text, entities=entities, reply_markup=markup)

    def _caption(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        caption, entities = fmt.formatted(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
        )
        fmt.check_caption(caption)
        return caption, entities

    async def _input_file(
        self, params: dict[str, Any], files: dict[str, bytes], name: str, kind: str
    ) -> StoredFile | list[dict[str, Any]]:
        """The file a send method names: an upload, a known file_id, or an HTTP URL."""
        uploads: dict[str, tuple[bytes, str, str]] = params["__uploads__"]
        value = params.get(name)
        upload = uploads.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
            if upload is None:
                raise BadRequest(f"wrong HTTP URL specified: file {value!r} is not attached")
        if upload is not None:
            data, file_name, mime_type = upload
            if mime_type in ("", "application/octet-stream"):
                mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            files[name] = data
            return self._store_upload(kind, data, file_name, mime_type)
        if not isinstance(value, str) or not value:
            raise BadRequest(f"there is no {name} in the request")
        if value.startswith(("http://", "https://")):
            return await self._from_url(kind, value)
        stored = self.files.get(value)
        if stored is None:
            raise BadRequest("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise BadRequest("type of file mismatch")
        return list(stored.extra.get("sizes") or []) if kind == "photo" else stored

    def _store_upload(
        self, kind: str, data: bytes, file_name: str, mime_type: str
    ) -> StoredFile | list[dict[str, Any]]:
        if kind == "photo":
            if len(data) > PHOTO_UPLOAD_LIMIT:
                raise BadRequest("file is too big")
            size = image_size(data)
            if size is None:
                raise BadRequest("IMAGE_PROCESS_FAILED")
            width, height = size
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise BadRequest("PHOTO_INVALID_DIMENSIONS")
            return self._photo_sizes(data)
        if len(data) > FILE_UPLOAD_LIMIT:
            raise BadRequest("file is too big")
        if not data:
            raise BadRequest("file must be non-empty")
        return self.files.add(kind, data, mime_type=mime_type or None, file_name=file_name)

    def _photo_sizes(self, data: bytes | None, url: str | None = None) -> list[dict[str, Any]]:
        sizes = self.files.add_photo(data, url=url)
        for size in sizes:
            stored = self.files.get(size["file_id"])
            if stored is not None:
                stored.extra["sizes"] = sizes
        return sizes

    async def _from_url(self, kind: str, url: str) -> StoredFile | list[dict[str, Any]]:
        """Telegram downloads URLs itself; here only loopback ones (no network), others are kept as links."""
        name = urlsplit(url).path.rsplit("/", 1)[-1] or "file"
        if not is_loopback(url):
            if kind == "photo":
                return self._photo_sizes(None, url=url)
            return self.files.add(kind, None, file_name=name, url=url)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=15)) as response,
            ):
                if response.status != 200:
                    raise BadRequest("failed to get HTTP URL content")
                data = await response.read()
                mime_type = response.content_type
        except (aiohttp.ClientError, TimeoutError):
            raise BadRequest("failed to get HTTP URL content") from None
        if kind == "photo" and image_size(data) is None:
            raise BadRequest("wrong type of the web page content")
        return self._store_upload(kind, data, name, mime_type)

    async def _send_media(self, kind: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._target(params, f"send{kind}")
        caption, entities = self._caption(params)
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        media = await self._input_file(params, files, kind, kind)
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = media
        else:
            assert isinstance(media, StoredFile)
            content[kind] = media_object(media, kind, params)
            if kind == "animation":
                content["document"] = media_object(media, "document", params)
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return self._bot_message(
            chat, params, **content, caption=caption, caption_entities=entities, reply_markup=markup
        )

    async def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return await self._send_media("photo", params, files)

    async def _m_sendVideo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return await self._send_media("video", params, files)

    async def _m_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return await self._send_media("document", params, files)

    async def _m_sendAnimation(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return await self._send_media("animation", params, files)

    async def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._target(params, "sendChatAction")
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise BadRequest("wrong parameter action in request")
        with self._lock:
            chat.action, chat.action_until = str(action), time.time() + ACTION_SECONDS
            self._touch(chat)
        return True

    async def _m_sendMessageDraft(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """A partial answer the user sees being typed (Bot API 9.3+; private chats only).

        Kept per (chat, draft_id) until the bot sends a message to the chat or 30 s pass; an
        empty text is the "Thinking…" placeholder (Bot API 10.x: 0-4096 characters after
        entity parsing). Telegram's exact error texts for a group chat and a zero draft_id are
        not documented: the ones here are descriptive stand-ins.
        """
        chat = self._target(params, "sendMessageDraft")
        draft_id = params.get("draft_id")
        if draft_id in (None, ""):
            raise BadRequest('parameter "draft_id" is required')
        if not isinstance(draft_id, int) or isinstance(draft_id, bool):
            raise BadRequest('field "draft_id" must be an Integer')
        if draft_id == 0:
            raise BadRequest("draft_id must be non-zero")
        if chat.chat.get("type") != "private":
            raise BadRequest("message drafts can be sent only to private chats")
        thread = params.get("message_thread_id")
        if thread is not None and not isinstance(thread, int):
            raise BadRequest("message thread not found")
        text, entities = fmt.formatted(params.get("text"), params.get("parse_mode"), params.get("entities"))
        if fmt.utf16_len(text) > fmt.TEXT_LIMIT:
            raise BadRequest("message is too long")
        self._in_place_flood_check(chat, "draft")
        with self._lock:
            before = chat.drafts.get(draft_id) or {}
            chat.drafts[draft_id] = {
                "draft_id": draft_id,
                "text": text,
                "entities": entities,
                "message_thread_id": thread,
                "can_stop": bool(params.get("can_stop")),
                "keep_on_stop": bool(params.get("keep_on_stop")),
                "updates": int(before.get("updates", 0)) + 1,
                "at": time.monotonic(),
            }
            self._touch(chat)
        return True

    # -- methods: editing ---------------------------------------------------------------------

    def _editable(self, params: dict[str, Any], method: str) -> tuple[ChatState, dict[str, Any]]:
        if params.get("inline_message_id"):
            raise BadRequest("inline messages are not supported by the local stand-in")
        chat = self._target(params, method)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise BadRequest("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise BadRequest("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise BadRequest("message can't be edited")
        return chat, message

    def _apply_edit(
        self, chat: ChatState, message: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            before = {k: message.get(k) for k in changes}
            after = {k: (v if v not in ([], "") else None) for k, v in changes.items()}
            if before == after:
                raise BadRequest(NOT_MODIFIED)
            self._in_place_flood_check(chat, "edit")
            for key, value in after.items():
                if value is None:
                    message.pop(key, None)
                else:
                    message[key] = value
            message["edit_date"] = int(time.time())
            self._touch(chat)
            return deep_copy(message)

    async def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat, message = self._editable(params, "editMessageText")
        text, entities = fmt.formatted(params.get("text"), params.get("parse_mode"), params.get("entities"))
        fmt.check_text(text)
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        if "text" not in message:
            raise BadRequest("there is no text in the message to edit")
        return self._apply_edit(chat, message, {"text": text, "entities": entities, "reply_markup": markup})

    async def _m_editMessageCaption(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat, message = self._editable(params, "editMessageCaption")
        caption, entities = self._caption(params)
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        if not any(k in message for k in ("photo", "video", "document", "animation")):
            raise BadRequest("there is no caption in the message to edit")
        return self._apply_edit(
            chat, message, {"caption": caption, "caption_entities": entities, "reply_markup": markup}
        )

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat, message = self._editable(params, "editMessageReplyMarkup")
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise BadRequest("inline keyboard expected")
        return self._apply_edit(chat, message, {"reply_markup": markup})

    async def _m_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._target(params, "deleteMessage")
        with self._lock:
            if chat.messages.pop(int(params.get("message_id") or 0), None) is None:
                raise BadRequest("message to delete not found")
            self._touch(chat)
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id:
            raise BadRequest("query_id is empty")
        text = str(params.get("text") or "")
        if fmt.utf16_len(text) > 200:
            raise BadRequest("MESSAGE_TOO_LONG")
        with self._lock:
            known = self._callbacks.get(query_id)
            if known is not None:
                if known["answered"]:
                    raise BadRequest("query is too old and response timeout expired or query ID is invalid")
                known["answered"] = True
        if known is not None and text:
            self.toast(known["chat_id"], text, show_alert=bool(params.get("show_alert")))
        return True

    async def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise BadRequest("invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise BadRequest("file is too big")
        return stored.as_file()

    # -- methods: payments --------------------------------------------------------------------

    def _invoice_params(self, params: dict[str, Any]) -> dict[str, Any]:
        title, description = str(params.get("title") or ""), str(params.get("description") or "")
        payload = str(params.get("payload") or "")
        currency = str(params.get("currency") or "")
        if not 1 <= len(title) <= 32:
            raise BadRequest("INVOICE_TITLE_INVALID" if title else "title is empty")
        if not 1 <= len(description) <= 255:
            raise BadRequest("INVOICE_DESCRIPTION_INVALID" if description else "description is empty")
        if not 1 <= len(payload.encode()) <= 128:
            raise BadRequest("INVOICE_PAYLOAD_INVALID" if payload else "payload is empty")
        if len(currency) != 3:
            raise BadRequest("CURRENCY_INVALID")
        prices = fmt.decode_json_param(params.get("prices"), "prices")
        if (
            not isinstance(prices, list)
            or not prices
            or not all(
                isinstance(p, dict) and isinstance(p.get("amount"), int) and p.get("label") for p in prices
            )
        ):
            raise BadRequest("can't parse prices JSON object")
        if currency == "XTR" and len(prices) != 1:
            raise BadRequest("STARS_INVOICE_INVALID")
        total = sum(p["amount"] for p in prices)
        if total <= 0:
            raise BadRequest("CURRENCY_TOTAL_AMOUNT_INVALID")
        period = params.get("subscription_period")
        if period is not None and (period != SUBSCRIPTION_PERIOD or currency != "XTR"):
            raise BadRequest("SUBSCRIPTION_PERIOD_INVALID")
        return {
            "title": title,
            "description": description,
            "payload": payload,
            "currency": currency,
            "total_amount": total,
            "subscription_period": period,
        }

    async def _m_sendInvoice(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._target(params, "sendInvoice")
        invoice = self._invoice_params(params)
        markup = fmt.check_reply_markup(params.get("reply_markup"))
        shown = {
            "title": invoice["title"],
            "description": invoice["description"],
            "start_parameter": str(params.get("start_parameter") or ""),
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
        }
        message = self._bot_message(chat, params, invoice=shown, reply_markup=markup)
        with self._lock:
            self._invoices[(chat.id, message["message_id"])] = invoice
        return message

    async def _m_createInvoiceLink(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        invoice = self._invoice_params(params)
        slug = secrets.token_urlsafe(12)
        with self._lock:
            self._invoice_links[slug] = invoice
        return f"https://t.me/${slug}"

    def invoice(
        self, chat_id: int, message_id: int | None = None, link: str | None = None
    ) -> dict[str, Any] | None:
        """What an invoice message (or an invoice link) asks for, payload included, for the web chat."""
        with self._lock:
            if link is not None:
                found = self._invoice_links.get(link.rsplit("$", 1)[-1])
            else:
                found = self._invoices.get((chat_id, message_id or 0))
            return dict(found) if found else None

    def start_payment(self, user_id: int, invoice: dict[str, Any]) -> dict[str, Any]:
        """The user pressed Pay: pre_checkout_query now, successful_payment once the bot says ok."""
        update = self._pre_checkout(
            user_id,
            invoice["payload"],
            invoice["total_amount"],
            invoice["currency"],
            {"invoice": invoice, "web": True},
        )
        query_id = update["pre_checkout_query"]["id"]
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.call_later, 10.0, self._payment_timeout, query_id)
        return update

    def _payment_timeout(self, query_id: str) -> None:
        with self._lock:
            pending = self._pre_checkouts.get(query_id)
            if pending is None or pending["answered"]:
                return
            pending["answered"] = True
        self.toast(
            pending["user_id"], "Payment failed: the bot did not answer the pre-checkout query in 10 s"
        )

    async def _m_answerPreCheckoutQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        query_id = str(params.get("pre_checkout_query_id") or "")
        if not query_id:
            raise BadRequest("query_id is empty")
        ok = params.get("ok")
        if not isinstance(ok, bool):
            raise BadRequest('parameter "ok" is required')
        error_message = str(params.get("error_message") or "")
        if not ok and not error_message:
            raise BadRequest("error_message is empty")
        with self._lock:
            pending = self._pre_checkouts.get(query_id)
            if pending is not None:
                if pending["answered"]:
                    raise BadRequest("query is too old and response timeout expired or query ID is invalid")
                pending["answered"] = True
        if pending is not None and pending.get("web"):
            if ok:
                assert self._loop is not None
                self._loop.call_later(0.05, self._pay, pending)
            else:
                self.toast(pending["user_id"], f"Payment failed: {error_message}", show_alert=True)
        return True

    def _pay(self, pending: dict[str, Any]) -> None:
        invoice = pending["invoice"]
        extra: dict[str, Any] = {}
        if invoice.get("subscription_period"):
            extra = {
                "subscription_expiration_date": int(time.time()) + int(invoice["subscription_period"]),
                "is_recurring": True,
                "is_first_recurring": True,
            }
        charge = f"stxLOCAL{secrets.token_hex(16)}"
        payload, amount, currency = invoice["payload"], invoice["total_amount"], invoice["currency"]
        self.successful_payment(pending["user_id"], payload, amount, charge, currency, **extra)

    async def _m_refundStarPayment(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        user_id, charge_id = params.get("user_id"), str(params.get("telegram_payment_charge_id") or "")
        if not isinstance(user_id, int):
            raise BadRequest("user_id is empty")
        if not charge_id:
            raise BadRequest("CHARGE_ID_EMPTY")
        with self._lock:
            charge = self._charges.setdefault(charge_id, {"user_id": user_id, "refunded": False, "amount": 0})
            if charge["user_id"] != user_id:
                raise BadRequest("CHARGE_NOT_FOUND")
            if charge["refunded"]:
                raise BadRequest("CHARGE_ALREADY_REFUNDED")
            charge["refunded"] = True
        if charge["amount"]:
            self.toast(user_id, f"Refunded {charge['amount']} Stars")
        return True

    async def _m_editUserStarSubscription(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        user_id, charge_id = params.get("user_id"), str(params.get("telegram_payment_charge_id") or "")
        if not isinstance(user_id, int):
            raise BadRequest("user_id is empty")
        if not isinstance(params.get("is_canceled"), bool):
            raise BadRequest('parameter "is_canceled" is required')
        with self._lock:
            charge = self._charges.get(charge_id)
            if charge is not None and charge["user_id"] != user_id:
                raise BadRequest("CHARGE_NOT_FOUND")
            if charge is not None:
                charge["canceled"] = params["is_canceled"]
        return True
