"""The router and Gemini adapter against the Gemini stand-in, with the key pool on moto."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import pytest
from PIL import Image

from genbot.config import Settings
from genbot.providers.base import (
    ExhaustedError,
    GenerationRequest,
    MediaResult,
    Pending,
    RefusedError,
    TransientError,
)
from genbot.providers.catalog import Catalog
from genbot.providers.keypool import KeyPool, KeyUsage, fingerprint
from genbot.providers.router import ProviderRouter
from genbot_local.ai_standins import GeminiStandIn, OpenAIStandIn


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    return buffer.getvalue()


def generate(
    settings: Settings, req: GenerationRequest, pool: KeyPool | None = None
) -> MediaResult | Pending:
    async def go() -> MediaResult | Pending:
        router = ProviderRouter(settings, pool=pool)
        try:
            return await router.run(req)
        finally:
            await router.aclose()

    return asyncio.run(go())


def poll(settings: Settings, pending: Pending, pool: KeyPool | None = None) -> MediaResult | Pending:
    async def go() -> MediaResult | Pending:
        router = ProviderRouter(settings, pool=pool)
        try:
            return await router.poll(pending)
        finally:
            await router.aclose()

    return asyncio.run(go())


def test_text_to_image_returns_the_png_gemini_sent(
    gemini_api: GeminiStandIn, pool_tables, provider_settings, gemini_keys
) -> None:
    result = generate(provider_settings(gemini_api), GenerationRequest("image", "standard", "a red fox"))

    assert isinstance(result, MediaResult)
    assert (result.provider, result.model, result.mime) == ("gemini", "gemini-2.5-flash-image", "image/png")
    assert Image.open(io.BytesIO(result.data)).format == "PNG"
    (call,) = gemini_api.requests_to(":generateContent")
    assert call.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert call.key in gemini_keys and "x-goog-api-key" in call.headers
    assert call.json["contents"][0]["parts"][-1]["text"] == "a red fox"
    assert "IMAGE" in call.json["generationConfig"]["responseModalities"]


def test_edit_sends_the_photo_inline_and_pro_uses_the_pro_model(
    gemini_api: GeminiStandIn, pool_tables, provider_settings
) -> None:
    source = photo()
    req = GenerationRequest("edit", "pro", "oil painting", image=source, image_mime="image/jpeg")
    result = generate(provider_settings(gemini_api), req)

    assert isinstance(result, MediaResult) and result.model == "gemini-3-pro-image-preview"
    (call,) = gemini_api.requests_to(":generateContent")
    parts = call.json["contents"][0]["parts"]
    inline = next(p["inlineData"] for p in parts if "inlineData" in p)
    assert (inline.get("mimeType") or inline.get("mime_type")) == "image/jpeg"
    assert base64.urlsafe_b64decode(inline["data"]) == source  # the SDK sends URL-safe base64
    assert parts[-1]["text"] == "oil painting"


def test_describe_answers_text_in_the_users_language(
    gemini_api: GeminiStandIn, pool_tables, provider_settings
) -> None:
    req = GenerationRequest("describe", "standard", "", image=photo(), image_mime="image/jpeg", language="ru")
    result = generate(provider_settings(gemini_api), req)

    assert isinstance(result, MediaResult) and result.data == b"" and "фотография" in (result.text or "")
    (call,) = gemini_api.requests_to(":generateContent")
    assert call.path.endswith("/gemini-2.5-flash:generateContent") and "Russian" in str(call.json)


def test_video_is_polled_on_the_same_key_and_downloaded(
    gemini_api: GeminiStandIn, pool_tables, provider_settings, gemini_keys
) -> None:
    settings = provider_settings(gemini_api)
    source = photo()
    outcome = generate(
        settings, GenerationRequest("video", "standard", "waves", image=source, image_mime="image/jpeg")
    )
    assert isinstance(outcome, Pending) and outcome.provider == "gemini"
    assert outcome.model == "veo-3.0-fast-generate-001" and "|" not in outcome.operation
    assert outcome.key_id in {fingerprint(k) for k in gemini_keys}

    polls = 0
    while isinstance(outcome, Pending):
        outcome = poll(settings, outcome)  # a fresh router each time, as a new Lambda would be
        polls += 1

    assert polls == 3 and outcome.mime == "video/mp4" and outcome.data[4:8] == b"ftyp"
    (start,) = gemini_api.requests_to(":predictLongRunning")
    instance = start.json["instances"][0]
    assert (
        instance["prompt"] == "waves" and base64.b64decode(instance["image"]["bytesBase64Encoded"]) == source
    )
    keys = {r.key for r in gemini_api.requests_to("/operations/")}
    assert keys == {start.key}  # every poll with the key that started it
    download, media = gemini_api.requests_to(":download")[0], gemini_api.requests_to("/_media/")[0]
    assert download.key == start.key
    assert media.key is None and "x-goog-api-key" not in media.headers  # not sent to another host


def test_a_veo_rai_filter_is_a_refusal(gemini_api: GeminiStandIn, pool_tables, provider_settings) -> None:
    settings = provider_settings(gemini_api)
    gemini_api.video_polls = 1
    gemini_api.filter_next_video()
    pending = generate(
        settings, GenerationRequest("video", "pro", "x", image=photo(), image_mime="image/jpeg")
    )
    assert isinstance(pending, Pending)
    with pytest.raises(RefusedError) as caught:
        poll(settings, pending)
    assert caught.value.reason == "safety"


@pytest.mark.parametrize(
    ("how", "reason"), [("prompt", "prompt_blocked"), ("image", "safety"), ("no_image", "no_image")]
)
def test_gemini_safety_answers_are_refusals_and_no_other_provider_is_asked(
    gemini_api: GeminiStandIn,
    openai_api: OpenAIStandIn,
    pool_tables,
    how: str,
    reason: str,
    provider_settings,
) -> None:
    gemini_api.block_next(how)
    with pytest.raises(RefusedError) as caught:
        generate(
            provider_settings(gemini_api, openai_api), GenerationRequest("image", "standard", "something")
        )
    assert caught.value.reason == reason
    assert openai_api.requests == []


def test_429_on_key_a_cools_it_in_dynamodb_and_key_b_serves(
    gemini_api: GeminiStandIn, pool_tables, monkeypatch: pytest.MonkeyPatch, provider_settings, gemini_keys
) -> None:
    monkeypatch.setattr("genbot.providers.keypool.random.randrange", lambda n: 0)  # key A first
    settings = provider_settings(gemini_api)
    pool = KeyPool(settings)
    gemini_api.fail_next(429, key=gemini_keys[0], retry_delay="42s")

    result = generate(settings, GenerationRequest("image", "standard", "a fox"), pool)

    assert isinstance(result, MediaResult) and result.provider == "gemini"
    assert [r.key for r in gemini_api.requests_to(":generateContent")] == [gemini_keys[0], gemini_keys[1]]
    state = KeyUsage.get(KeyPool.item_key("gemini", fingerprint(gemini_keys[0]), pool._day()))
    assert state.cooldown_until >= time.time() + 40  # the server's RetryInfo, not our default
    assert (state.used, state.strikes) == (1, 1)
    assert gemini_keys[0] not in json.dumps(state.to_simple_dict())  # only the fingerprint is stored


def test_429_cools_the_key_for_every_lambda(
    gemini_api: GeminiStandIn, pool_tables, monkeypatch, provider_settings, gemini_keys
) -> None:
    from genbot.providers import keypool

    monkeypatch.setattr(keypool.random, "randrange", lambda n: 0)  # every router starts at key A
    settings = provider_settings(gemini_api)
    gemini_api.over_quota(gemini_keys[0])
    results = [generate(settings, GenerationRequest("image", "standard", f"fox {i}")) for i in range(4)]

    assert all(isinstance(r, MediaResult) for r in results)
    keys = [r.key for r in gemini_api.requests_to(":generateContent")]
    assert keys.count(gemini_keys[0]) == 1, keys  # after one 429 no other router (a fresh pool each) tries A
    assert keys.count(gemini_keys[1]) == 4
    state = KeyUsage.get(KeyPool.item_key("gemini", fingerprint(gemini_keys[0]), KeyPool(settings)._day()))
    assert state.strikes == 1 and state.cooldown_until


def test_when_every_gemini_key_is_exhausted_openai_serves(
    gemini_api: GeminiStandIn, openai_api: OpenAIStandIn, pool_tables, provider_settings, gemini_keys
) -> None:
    for key in gemini_keys:
        gemini_api.over_quota(key)
    result = generate(
        provider_settings(gemini_api, openai_api), GenerationRequest("image", "standard", "a fox")
    )

    assert isinstance(result, MediaResult) and (result.provider, result.model) == (
        "openai",
        "gpt-image-1-mini",
    )
    assert sorted(r.key for r in gemini_api.requests_to(":generateContent")) == sorted(gemini_keys)
    assert len(openai_api.requests_to("/images/generations")) == 1


def test_exhausted_everywhere_is_an_exhausted_error_with_a_retry_time(
    gemini_api: GeminiStandIn, pool_tables, provider_settings, gemini_keys
) -> None:
    settings = provider_settings(gemini_api)
    for key in gemini_keys:
        gemini_api.over_quota(key)
    with pytest.raises(ExhaustedError):  # each key answers 429 (retryDelay 30s) and cools down
        generate(settings, GenerationRequest("image", "standard", "a fox"))
    tried = len(gemini_api.requests)

    with pytest.raises(ExhaustedError) as caught:  # the next job: every key is known to be cooling
        generate(settings, GenerationRequest("image", "standard", "a fox"))

    assert caught.value.retry_after == pytest.approx(30, abs=5)
    assert len(gemini_api.requests) == tried  # no key was tried again


def test_a_500_is_transient(gemini_api: GeminiStandIn, pool_tables, provider_settings) -> None:
    gemini_api.fail_next(500)
    with pytest.raises(TransientError) as caught:
        generate(provider_settings(gemini_api), GenerationRequest("image", "standard", "a fox"))
    assert not isinstance(caught.value, ExhaustedError)
    assert len(gemini_api.requests_to(":generateContent")) == 1  # the queue retries, not us


def test_a_500_falls_back_to_the_next_provider(
    gemini_api: GeminiStandIn, openai_api: OpenAIStandIn, pool_tables, provider_settings
) -> None:
    gemini_api.fail_next(503)
    req = GenerationRequest("describe", "standard", "", image=photo(), image_mime="image/jpeg", language="en")
    result = generate(provider_settings(gemini_api, openai_api), req)
    assert isinstance(result, MediaResult) and result.provider == "openai" and result.text


def test_an_operator_catalog_in_the_settings_table_reorders_providers(
    gemini_api: GeminiStandIn, openai_api: OpenAIStandIn, pool_tables, provider_settings
) -> None:
    from genbot.store.models import SettingItem

    SettingItem(
        "catalog",
        value={
            "image": {
                "standard": [
                    {"provider": "openai", "model": "gpt-image-1"},
                    {"provider": "gemini", "model": "m"},
                ]
            }
        },
    ).save()
    settings = provider_settings(gemini_api, openai_api)
    assert Catalog.load(settings).tiers("image") == ["standard"]
    result = generate(settings, GenerationRequest("image", "standard", "a fox"))
    assert isinstance(result, MediaResult) and (result.provider, result.model) == ("openai", "gpt-image-1")
    assert gemini_api.requests == []
