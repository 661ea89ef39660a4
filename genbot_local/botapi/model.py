"""The Bot API stand-in's data: limits, recorded calls, simulated users, chats, parameter types.

Kept apart from the server so the HTTP side, the Bot API methods and the state they share
each stay readable on their own.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
ACTION_SECONDS = 5.0
DRAFT_SECONDS = 30.0  # a draft is a temporary preview: it goes away 30 s after its last update
SUBSCRIPTION_PERIOD = 2592000
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
INT_PARAMS = frozenset(
    {
        *("chat_id", "message_id", "from_chat_id", "reply_to_message_id", "message_thread_id", "user_id"),
        *("offset", "limit", "timeout", "duration", "width", "height", "cache_time", "max_connections"),
        *("subscription_period", "max_tip_amount", "star_count", "total_amount", "draft_id"),
    }
)
BOOL_PARAMS = frozenset(
    {
        *("disable_notification", "protect_content", "has_spoiler", "supports_streaming", "show_alert"),
        *("ok", "is_canceled", "drop_pending_updates", "allow_sending_without_reply"),
        *("disable_web_page_preview", "show_caption_above_media", "disable_content_type_detection"),
        *("need_name", "need_phone_number", "need_email", "need_shipping_address", "is_flexible"),
        *("allow_paid_broadcast", "can_stop", "keep_on_stop"),
    }
)
JSON_PARAMS = frozenset(
    {
        *("reply_markup", "entities", "caption_entities", "reply_parameters", "link_preview_options"),
        *("prices", "suggested_tip_amounts", "allowed_updates", "commands", "scope"),
    }
)
SEND_METHODS = frozenset(
    {"sendmessage", "sendphoto", "sendvideo", "senddocument", "sendanimation", "sendinvoice"}
)
CHAT_METHODS = SEND_METHODS | {
    "sendchataction",
    "editmessagetext",
    "editmessagecaption",
    "editmessagereplymarkup",
    "sendmessagedraft",
}
EDIT_METHODS = frozenset({"editmessagetext", "editmessagecaption", "editmessagereplymarkup"})


class ApiError(Exception):
    """An error answer: HTTP status = error_code, as Telegram does."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass(frozen=True)
class FloodLimits:
    """Flood control: a token bucket per chat and one for the whole bot, over send* methods.

    Telegram asks for at most ~1 message per second per chat (short bursts pass) and ~30 per
    second overall; beyond that it answers 429 with ``retry_after``. ``enabled=False`` (or
    ``flood=None`` in the stand-in) turns the check off.

    Edits (editMessageText/Caption/ReplyMarkup) and drafts (sendMessageDraft) are updates in
    place: each chat has its own bucket for edits and another for drafts (``edit_*``,
    ``draft_*``), apart from the messages' bucket and outside the global one. Telegram documents
    no numbers for either; bots streaming drafts every 0.3 s are reported getting 429
    (retry_after 3) while about one a second passes, so drafts default to a burst of 10 and one
    a second. Edits are left unlimited by default (``edit_burst=0``): inline menus are edited on
    every tap and Telegram keeps up with a person's taps; set ``edit_burst`` to test a sender's
    pacing of edits.
    """

    per_chat_burst: int = 20
    per_chat_rate: float = 1.0
    global_rate: float = 30.0
    global_burst: int | None = None
    enabled: bool = True
    edit_burst: int = 0
    edit_rate: float = 1.0
    draft_burst: int = 10
    draft_rate: float = 1.0

    @classmethod
    def disabled(cls) -> FloodLimits:
        return cls(enabled=False)


@dataclass
class RecordedCall:
    """One Bot API request as the stand-in saw it: decoded params, uploaded bytes, the answer."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    response: dict[str, Any]
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass
class SimUser:
    """A simulated Telegram user (tests and the web chat)."""

    id: int
    first_name: str = "Test"
    language_code: str = "ru"
    username: str | None = None
    last_name: str | None = None

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float = -1.0
    last: float = 0.0

    def take(self, now: float) -> float:
        """Take one token; 0 if granted, else seconds until one is available."""
        if self.tokens < 0:
            self.tokens, self.last = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else 3600.0


@dataclass
class ChatState:
    id: int
    chat: dict[str, Any]
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    version: int = 0
    action: str | None = None
    action_until: float = 0.0
    reply_keyboard: dict[str, Any] | None = None
    toasts: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False
    bucket: Bucket | None = None
    edit_bucket: Bucket | None = None
    draft_bucket: Bucket | None = None
    # sendMessageDraft: draft_id -> {"text", "entities", "at" (monotonic), "message_thread_id", ...}
    drafts: dict[int, dict[str, Any]] = field(default_factory=dict)


def coerce(key: str, value: Any) -> Any:
    """Form fields arrive as strings: give known parameters their Bot API types."""
    if not isinstance(value, str):
        return value
    if key in INT_PARAMS and value.lstrip("-").isdigit():
        return int(value)
    if key in BOOL_PARAMS and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if key in JSON_PARAMS and value[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deep_copy(obj: Any) -> Any:
    return copy.deepcopy(obj)
