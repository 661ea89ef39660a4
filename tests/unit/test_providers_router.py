"""The router with no keys: the fake provider serves, as in the local stack."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from genbot.config import Settings
from genbot.providers.base import GenerationRequest, InvalidInputError, MediaResult, Pending
from genbot.providers.catalog import DEFAULT_CATALOG, Catalog
from genbot.providers.router import ProviderRouter


def router(monkeypatch: pytest.MonkeyPatch) -> ProviderRouter:
    settings = Settings()
    return ProviderRouter(settings, catalog=Catalog.from_data(DEFAULT_CATALOG, settings))


def test_video_round_trip_through_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "purple").save(buffer, "JPEG")
    req = GenerationRequest("video", "standard", "waves", image=buffer.getvalue(), image_mime="image/jpeg")

    async def go() -> tuple[MediaResult | Pending, int]:
        r = router(monkeypatch)
        outcome = await r.run(req)
        assert isinstance(outcome, Pending) and (outcome.provider, outcome.key_id) == ("fake", "local")
        polls = 0
        while isinstance(outcome, Pending):
            outcome = await r.poll(outcome)
            polls += 1
        await r.aclose()
        return outcome, polls

    outcome, polls = asyncio.run(go())
    assert polls == 2 and isinstance(outcome, MediaResult) and outcome.mime == "video/mp4"


def test_missing_input_is_invalid_before_any_provider_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidInputError):
        asyncio.run(router(monkeypatch).run(GenerationRequest("edit", "standard", "x")))
    with pytest.raises(InvalidInputError):
        asyncio.run(router(monkeypatch).run(GenerationRequest("describe", "ultra", "x", image=b"x")))
