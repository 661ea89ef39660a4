"""The word list part of prompt moderation (the API part runs against the stand-in)."""

from __future__ import annotations

import asyncio

import pytest

from genbot.config import Settings
from genbot.providers.base import RefusedError
from genbot.providers.moderation import blocked_term, check_prompt


def test_operator_words_and_built_in_terms_match_whole_words_case_insensitively() -> None:
    settings = Settings(blocked_words=["Гитлер", "gore"])
    assert blocked_term(settings, "портрет ГИТЛЕРА") is None  # another word form: not a whole-word hit
    assert blocked_term(settings, "портрет гитлер в очках") == "Гитлер"
    assert blocked_term(settings, "Lots of GORE, please") == "gore"
    assert blocked_term(settings, "a gorgeous sunset") is None
    assert blocked_term(settings, "some child  porn") == "child porn"
    assert blocked_term(settings, "ДЕТСКОЕ порно") == "детское порно"
    assert blocked_term(settings, "please refuse this one") is None  # the fake provider's hook stays usable


def test_check_prompt_raises_prompt_blocked_without_calling_any_api() -> None:
    with pytest.raises(RefusedError) as caught:
        asyncio.run(check_prompt(Settings(blocked_words=["gore"]), "more gore"))
    assert caught.value.reason == "prompt_blocked"
    asyncio.run(check_prompt(Settings(), "a watercolor fox"))  # no key: word list only
