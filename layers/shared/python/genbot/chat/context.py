"""The assistant's conversation: one item per message in the conversations table, with a TTL.

Keys: partition the user, sort ``<conv>#<question ms>#<job id>#<q|r>``: a question and its reply
sort together, in the order questions were asked; ``/new`` starts another ``conv``. Texts live
here only, ``CHAT_CONTEXT_HOURS`` after they were written (DynamoDB's TTL removes them); jobs
carry counts, never texts.

Trimming: the request's budget (``CHAT_CONTEXT_TOKENS``) holds the system prompt, the question
and as much history as fits, newest first, so the provider never sees more than it allows. A
reply's size is the provider's own count (``usage.completion_tokens``); everything else is
estimated on the safe side (UTF-8 bytes / 3: about twice the real count for Russian, a third
more for English), with no tokenizer and its data files in the layer. Should the estimate still
be short, the worker halves the history on ``context_length_exceeded`` and asks again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from genbot.store.models import ChatMessage
from genbot.store.transaction import Transaction

QUESTION, REPLY = "q", "r"
USER, ASSISTANT = "user", "assistant"
HISTORY_LIMIT = 80  # messages read at most for one answer
PER_MESSAGE = 4  # the chat format's overhead per message, in tokens


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / 3) + PER_MESSAGE


def key(conv: str, asked_ms: int, job_id: str, kind: str) -> str:
    return f"{conv}#{asked_ms:013d}#{job_id}#{kind}"


def expiry(hours: int, now: float | None = None) -> datetime:
    return datetime.fromtimestamp((time.time() if now is None else now) + hours * 3600, UTC)


def add_question(
    tx: Transaction, user_id: int, conv: str, asked_ms: int, job_id: str, text: str, hours: int, image: bool
) -> None:
    """The question joins the transaction that charges for it (a retried update writes it once)."""
    item = ChatMessage(
        user_id,
        key(conv, asked_ms, job_id, QUESTION),
        role=USER,
        text=text,
        tokens=estimate_tokens(text),
        image=image or None,
        expiration=expiry(hours),
    )
    tx.save("question", item, condition=ChatMessage.key.does_not_exist())


def question(user_id: int, conv: str, asked_ms: int, job_id: str) -> ChatMessage | None:
    try:
        return ChatMessage.get(user_id, key(conv, asked_ms, job_id, QUESTION), consistent_read=True)
    except ChatMessage.DoesNotExist:
        return None


def set_question_text(item: ChatMessage, text: str) -> None:
    """A voice question, transcribed: kept, so a retry doesn't transcribe again."""
    item.update(actions=[ChatMessage.text.set(text), ChatMessage.tokens.set(estimate_tokens(text))])
    item.text, item.tokens = text, estimate_tokens(text)


def save_reply(
    user_id: int, conv: str, asked_ms: int, job_id: str, text: str, tokens: int, hours: int
) -> None:
    ChatMessage(
        user_id,
        key(conv, asked_ms, job_id, REPLY),
        role=ASSISTANT,
        text=text,
        tokens=tokens or estimate_tokens(text),
        expiration=expiry(hours),
    ).save()


def history(user_id: int, conv: str, before: str) -> list[ChatMessage]:
    """The conversation's messages sorted before ``before`` (the question being answered),
    oldest first; at most ``HISTORY_LIMIT``."""
    found = ChatMessage.query(
        user_id,
        ChatMessage.key.between(f"{conv}#", before),
        scan_index_forward=False,
        limit=HISTORY_LIMIT + 1,
        consistent_read=True,
    )
    items = [m for m in found if m.key != before and m.text]
    return list(reversed(items[:HISTORY_LIMIT]))


@dataclass(frozen=True)
class Turn:
    role: str
    text: str
    tokens: int


def trim(turns: list[Turn], budget: int) -> list[Turn]:
    """The newest turns that fit ``budget`` tokens, oldest first; never starting with a reply
    (a reply without its question confuses models)."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if used + turn.tokens > budget:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    while kept and kept[0].role == ASSISTANT:
        kept.pop(0)
    return kept
