"""Texts: language detection, catalogs, buttons matched in every language."""

from __future__ import annotations

import pytest

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
