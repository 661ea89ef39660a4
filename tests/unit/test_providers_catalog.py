"""The catalog is data: filtering by configured keys, registered fallbacks, operator overrides."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from genbot.config import Settings
from genbot.providers import registry
from genbot.providers.catalog import DEFAULT_CATALOG, Catalog, validate
from genbot_local import fake_provider


@pytest.fixture
def production_only() -> Iterator[None]:
    """The registry as a deployed stack has it: no fake."""
    fake_provider.register(when="off")
    yield
    fake_provider.register(when="auto", polls=2)


def providers_for(catalog: Catalog, mode: str, tier: str) -> list[tuple[str, str]]:
    return [(e.provider, e.model) for e in catalog.entries(mode, tier)]


def test_production_knows_no_fake_provider(production_only: None) -> None:
    assert registry.names() == ["gemini", "openai"]
    catalog = Catalog.from_data(DEFAULT_CATALOG, Settings())
    assert catalog.providers() == [] and catalog.tiers("image") == []
    assert "fake" not in str(DEFAULT_CATALOG)


def test_the_local_fake_serves_every_mode_only_without_keys() -> None:
    catalog = Catalog.from_data(DEFAULT_CATALOG, Settings())
    for mode in ("image", "edit", "video"):
        assert catalog.tiers(mode) == ["standard", "pro"]
        assert [p for p, _ in providers_for(catalog, mode, "pro")] == ["fake"]
    assert catalog.tiers("describe") == ["standard"]

    with_keys = Catalog.from_data(DEFAULT_CATALOG, Settings(openai_api_key="o"))
    assert "fake" not in with_keys.providers()


def test_entries_follow_the_configured_keys_in_catalog_order() -> None:
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


def test_validate_rejects_a_malformed_override_naming_the_place() -> None:
    good = copy.deepcopy(DEFAULT_CATALOG)
    assert set(validate(good)) == {"image", "edit", "video", "describe"}
    for bad, where in (
        ([], "catalog"),
        ({"sculpture": {}}, "sculpture"),
        ({"image": {"ultra": []}}, "image.ultra"),
        ({"image": {"standard": [{"provider": "midjourney", "model": "v7"}]}}, "image.standard.0.provider"),
        ({"image": {"standard": [{"provider": "gemini"}]}}, "image.standard.0.model"),
        ({"image": {"standard": [{"provider": "gemini", "model": ""}]}}, "image.standard.0.model"),
        ({"image": {"standard": {"provider": "gemini", "model": "m"}}}, "image.standard"),
        ({"image": {"standard": [{"provider": "gemini", "model": "m", "options": []}]}}, "options"),
    ):
        with pytest.raises(ValueError, match=where.replace(".", r"\.")):
            validate(bad)
