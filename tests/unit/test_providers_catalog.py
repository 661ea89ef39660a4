"""The catalog is data: filtering by configured keys, the fake fallback, operator overrides."""

from __future__ import annotations

import copy

import pytest

from genbot.config import Settings
from genbot.providers.catalog import DEFAULT_CATALOG, Catalog, validate


def providers_for(catalog: Catalog, mode: str, tier: str) -> list[tuple[str, str]]:
    return [(e.provider, e.model) for e in catalog.entries(mode, tier)]


def test_without_keys_the_fake_provider_serves_every_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENBOT_FAKE_PROVIDERS", raising=False)
    catalog = Catalog.from_data(DEFAULT_CATALOG, Settings())

    for mode in ("image", "edit", "video"):
        assert catalog.tiers(mode) == ["standard", "pro"]
        assert [p for p, _ in providers_for(catalog, mode, "pro")] == ["fake"]
    assert catalog.tiers("describe") == ["standard"]


def test_fake_can_be_forbidden_so_missing_keys_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENBOT_FAKE_PROVIDERS", "0")
    catalog = Catalog.from_data(DEFAULT_CATALOG, Settings())
    assert catalog.entries("image", "standard") == [] and catalog.tiers("video") == []


def test_entries_follow_the_configured_keys_in_catalog_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENBOT_FAKE_PROVIDERS", raising=False)
    both = Catalog.from_data(DEFAULT_CATALOG, Settings(gemini_api_keys=["g"], openai_api_key="o"))
    assert providers_for(both, "image", "standard") == [
        ("gemini", "gemini-2.5-flash-image"),
        ("openai", "gpt-image-1-mini"),
    ]
    assert providers_for(both, "video", "pro") == [("gemini", "veo-3.0-generate-001")]

    openai_only = Catalog.from_data(DEFAULT_CATALOG, Settings(openai_api_key="o"))
    assert openai_only.tiers("video") == []  # OpenAI makes no videos: the menu hides them
    assert providers_for(openai_only, "describe", "standard") == [("openai", "gpt-4.1-mini")]
    assert openai_only.entries("image", "pro")[0].options == {"size": "1024x1024", "quality": "high"}


def test_validate_rejects_a_malformed_override() -> None:
    good = copy.deepcopy(DEFAULT_CATALOG)
    assert validate(good) is good
    for bad in (
        [],
        {"sculpture": {}},
        {"image": {"standard": [{"provider": "midjourney", "model": "v7"}]}},
        {"image": {"standard": [{"provider": "gemini"}]}},
        {"image": {"standard": [{"provider": "gemini", "model": "a|b"}]}},
        {"image": {"standard": {"provider": "gemini", "model": "m"}}},
    ):
        with pytest.raises(ValueError):
            validate(bad)
