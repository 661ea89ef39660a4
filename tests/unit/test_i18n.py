"""Texts: language detection, catalogs, buttons matched in every language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from genbot.i18n import LANGUAGES, get_i18n, normalize_language, translate, variants


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("en-US", "en"), ("uk", "ru"), ("de", "en"), (None, "ru"), ("", "ru")],
)
def test_telegram_language_codes_map_to_ours(code, expected) -> None:
    assert normalize_language(code) == expected


def test_both_catalogs_load_and_translate() -> None:
    assert set(get_i18n().locales) == set(LANGUAGES)
    assert translate("💰 Balance", "ru") == "💰 Баланс"
    assert translate("💰 Balance", "en") == "💰 Balance"
    assert translate("✅ Start — {price} cr.", "ru", price=5) == "✅ Запустить — 5 кр."


def test_a_button_matches_in_either_language() -> None:
    assert variants("🎨 Generate") == frozenset({"🎨 Generate", "🎨 Создать"})


def test_no_translation_adds_a_unit_to_a_placeholder_the_english_leaves_bare() -> None:
    """``Balance: {balance}.`` gets ``credits(n)`` ("3 credits", "3 кредита"): a translation
    writing ``{balance} кр.`` shows the unit twice ("3 кредита кр.")."""
    po = Path(__file__).parents[2] / "layers/shared/python/genbot/locales/ru/LC_MESSAGES/messages.po"
    doubled = []
    for message in read_po(po.open("rb")):
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        russian = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in russian:
            for name in re.findall(r"\{(\w+)\} (?:кр|кредит)", text or ""):
                if not any(re.search(r"\{" + name + r"\} (?:credit|cr)", e) for e in english if e):
                    doubled.append((english[0], text))
    assert doubled == []
