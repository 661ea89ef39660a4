"""Prompt moderation before anything is charged: a word list, then OpenAI's moderation model.

1. Word list: ``settings.blocked_words`` (``BLOCKED_WORDS``, comma-separated) plus a small
   built-in list of terms no generation service accepts, matched case-insensitively as whole
   words or phrases (``ё`` counts as ``е``).
2. When ``OPENAI_API_KEY`` is set (the first key if several), ``omni-moderation-latest``
   through the openai SDK (honouring ``OPENAI_BASE_URL``), with a short timeout because this
   runs inside the webhook.

Fail-open by design: if the moderation API is down, slow or out of quota the prompt is
allowed and a warning logged. Every generation model applies its own safety filter anyway
(a refusal there is refunded), so an outage of this pre-check costs at most a refund, while
failing closed would stop every user from ordering anything while OpenAI has trouble.
"""

from __future__ import annotations

import re

from genbot.config import Settings
from genbot.observability import logger
from genbot.providers.base import RefusedError

MODERATION_MODEL = "omni-moderation-latest"
MODERATION_TIMEOUT_S = 5.0
BUILTIN_BLOCKLIST: tuple[str, ...] = (
    "csam",
    "child porn",
    "child pornography",
    "lolicon",
    "shotacon",
    "bestiality",
    "zoophilia",
    "детское порно",
    "детская порнография",
    "педофилия",
    "зоофилия",
)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold().replace("ё", "е")).strip()


def blocked_term(settings: Settings, prompt: str) -> str | None:
    """The first word-list term found in ``prompt`` as a whole word or phrase, else None."""
    text = _normalise(prompt)
    for raw in (*settings.blocked_words, *BUILTIN_BLOCKLIST):
        term = _normalise(raw)
        if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text):
            return raw
    return None


async def check_prompt(settings: Settings, prompt: str) -> None:
    """Raise ``RefusedError("prompt_blocked")`` if the prompt may not be generated."""
    term = blocked_term(settings, prompt)
    if term is not None:
        logger.info("prompt blocked by the word list")
        raise RefusedError("prompt_blocked", "the prompt contains a blocked word")
    keys = [k.strip() for k in settings.openai_api_key.split(",") if k.strip()]
    if not keys or not prompt.strip():
        return
    # Imported here: the webhook imports this module, and openai costs ~0.5 s of cold start
    # that deployments without an OpenAI key should not pay.
    import openai
    from openai import AsyncOpenAI

    try:
        async with AsyncOpenAI(
            api_key=keys[0],
            base_url=settings.openai_base_url or None,
            timeout=MODERATION_TIMEOUT_S,
            max_retries=0,
        ) as client:
            answer = await client.moderations.create(model=MODERATION_MODEL, input=prompt)
    except openai.OpenAIError as exc:
        logger.warning("moderation unavailable: prompt allowed (fail-open)", extra={"error": str(exc)[:300]})
        return
    flagged = [r for r in answer.results if r.flagged]
    if flagged:
        categories = sorted(
            name
            for r in flagged
            for name, hit in (r.categories.model_dump(by_alias=True) or {}).items()
            if hit
        )
        logger.info("prompt flagged by moderation", extra={"categories": categories})
        raise RefusedError("prompt_blocked", f"moderation flagged: {', '.join(categories) or 'unspecified'}")
