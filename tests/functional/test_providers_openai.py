"""The OpenAI adapter and prompt moderation against the OpenAI stand-in."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import Image

from genbot.config import Settings
from genbot.providers.base import GenerationRequest, MediaResult, Pending, RefusedError, TransientError
from genbot.providers.moderation import check_prompt
from genbot.providers.router import ProviderRouter
from genbot_local.ai_standins import OpenAIStandIn


@pytest.fixture
def settings(provider_settings, openai_api: OpenAIStandIn) -> Settings:
    """Settings with the OpenAI stand-in's keys and base URL (and no other provider)."""
    return provider_settings(openai=openai_api)


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def generate(settings: Settings, req: GenerationRequest) -> MediaResult | Pending:
    async def go() -> MediaResult | Pending:
        router = ProviderRouter(settings)
        try:
            return await router.run(req)
        finally:
            await router.aclose()

    return asyncio.run(go())


def test_generate_returns_the_decoded_png(
    openai_api: OpenAIStandIn, pool_tables, settings, openai_keys
) -> None:
    result = generate(settings, GenerationRequest("image", "pro", "a red fox"))

    assert isinstance(result, MediaResult) and (result.provider, result.model) == ("openai", "gpt-image-1")
    assert result.mime == "image/png" and Image.open(io.BytesIO(result.data)).format == "PNG"
    (call,) = openai_api.requests_to("/images/generations")
    assert call.json["model"] == "gpt-image-1" and call.json["prompt"] == "a red fox"
    assert call.json["quality"] == "high" and "response_format" not in call.json
    assert call.headers["authorization"] == f"Bearer {call.key}" and call.key in openai_keys


def test_edit_uploads_the_photo_as_multipart(openai_api: OpenAIStandIn, pool_tables, settings) -> None:
    source = photo()
    result = generate(
        settings, GenerationRequest("edit", "standard", "oil", image=source, image_mime="image/png")
    )

    assert isinstance(result, MediaResult) and result.mime == "image/png"
    (call,) = openai_api.requests_to("/images/edits")
    assert call.form["image"]["data"] == source and call.form["image"]["content_type"] == "image/png"
    assert (call.form["prompt"], call.form["model"]) == ("oil", "gpt-image-1-mini")


def test_describe_sends_the_photo_as_a_data_url(openai_api: OpenAIStandIn, pool_tables, settings) -> None:
    source = photo()
    req = GenerationRequest("describe", "standard", "", image=source, image_mime="image/png", language="en")
    result = generate(settings, req)

    assert isinstance(result, MediaResult) and result.text and result.data == b""
    (call,) = openai_api.requests_to("/chat/completions")
    content = call.json["messages"][0]["content"]
    url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == source


def test_a_safety_refusal_is_final(openai_api: OpenAIStandIn, pool_tables, settings) -> None:
    openai_api.fail_next("moderation_blocked")
    with pytest.raises(RefusedError):
        generate(settings, GenerationRequest("image", "standard", "something"))
    assert len(openai_api.requests) == 1


def test_a_rate_limited_key_is_skipped_for_the_other(
    openai_api: OpenAIStandIn, pool_tables, monkeypatch: pytest.MonkeyPatch, settings, openai_keys
) -> None:
    monkeypatch.setattr("genbot.providers.keypool.random.randrange", lambda n: 0)
    openai_api.fail_next("rate_limit", key=openai_keys[0], retry_after=7)
    result = generate(settings, GenerationRequest("image", "standard", "a fox"))

    assert isinstance(result, MediaResult)
    assert [r.key for r in openai_api.requests] == list(openai_keys)


def test_a_500_is_transient(openai_api: OpenAIStandIn, pool_tables, settings) -> None:
    openai_api.fail_next("server_error")
    with pytest.raises(TransientError):
        generate(settings, GenerationRequest("image", "standard", "a fox"))


def test_moderation_flags_block_the_prompt_through_the_configured_base_url(
    openai_api: OpenAIStandIn, settings, openai_keys
) -> None:
    openai_api.flag("massacre")

    with pytest.raises(RefusedError) as caught:
        asyncio.run(check_prompt(settings, "A MASSACRE in the village"))
    asyncio.run(check_prompt(settings, "a quiet village"))

    assert caught.value.reason == "prompt_blocked"
    calls = openai_api.requests_to("/moderations")
    assert [c.json["model"] for c in calls] == ["omni-moderation-latest"] * 2
    assert calls[0].key == openai_keys[0]


def test_moderation_outage_fails_open(openai_api: OpenAIStandIn, settings) -> None:
    openai_api.fail_next("server_error")
    asyncio.run(check_prompt(settings, "a quiet village"))  # no exception
    assert len(openai_api.requests_to("/moderations")) == 1
