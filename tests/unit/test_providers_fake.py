"""The offline fake provider: deterministic real media, and its refuse / flaky test hooks."""

from __future__ import annotations

import asyncio
import io
import struct

import pytest
from PIL import Image

from genbot.providers.base import (
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    RefusedError,
    TransientError,
)
from genbot_local.fake_provider import FakeProvider


def photo(color: str = "orange", size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def run(req: GenerationRequest, provider: FakeProvider | None = None) -> MediaResult | Pending:
    return asyncio.run((provider or FakeProvider()).generate(req, "fake-model"))


def boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[str, tuple[int, int]]:
    """ISO-BMFF boxes at one level: type -> (payload start, payload end)."""
    out, pos, end = {}, start, len(data) if end is None else end
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out[kind.decode()] = (pos + 8, pos + size)
        pos += size
    return out


def test_text_to_image_is_a_real_png_and_deterministic() -> None:
    first = run(GenerationRequest("image", "standard", "a red fox in the snow"))
    again = run(GenerationRequest("image", "standard", "a red fox in the snow"))
    other = run(GenerationRequest("image", "standard", "a blue whale"))

    assert isinstance(first, MediaResult) and first.mime == "image/png" and first.provider == "fake"
    assert first.data == again.data and first.data != other.data
    image = Image.open(io.BytesIO(first.data))
    assert image.format == "PNG" and image.size == (512, 512)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50  # a picture, not a flat fill


def test_edit_visibly_transforms_the_input_photo() -> None:
    source = photo("teal")
    result = run(
        GenerationRequest("edit", "standard", "make it pop art", image=source, image_mime="image/jpeg")
    )

    assert isinstance(result, MediaResult) and result.mime == "image/png"
    edited = Image.open(io.BytesIO(result.data)).convert("RGB")
    assert edited.size == (320, 240)
    original = Image.open(io.BytesIO(source)).convert("RGB")
    assert edited.getpixel((160, 60)) != original.getpixel((160, 60))


def test_edit_of_something_that_is_not_an_image_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        run(GenerationRequest("edit", "standard", "x", image=b"not an image", image_mime="image/jpeg"))


@pytest.mark.parametrize(("language", "word"), [("ru", "Фотография"), ("en", "photo")])
def test_describe_writes_a_prompt_in_the_users_language(language: str, word: str) -> None:
    result = run(GenerationRequest("describe", "standard", "", image=photo("orange"), language=language))

    assert isinstance(result, MediaResult) and result.data == b"" and result.text
    assert word in result.text and len(result.text.split()) >= 8


@pytest.mark.parametrize("prompt", ["please refuse this", "Something UNSAFE"])
def test_refuse_and_unsafe_prompts_are_refused(prompt: str) -> None:
    with pytest.raises(RefusedError) as caught:
        run(GenerationRequest("image", "standard", prompt))
    assert caught.value.reason == "safety"


def test_flaky_prompts_fail_once_then_work() -> None:
    provider = FakeProvider()
    prompt = f"a flaky castle {id(provider)}"
    with pytest.raises(TransientError):
        run(GenerationRequest("image", "standard", prompt), provider)
    assert isinstance(run(GenerationRequest("image", "standard", prompt), provider), MediaResult)


def test_video_is_pending_for_n_polls_then_a_real_mp4() -> None:
    provider = FakeProvider(polls=3)
    outcome = run(
        GenerationRequest("video", "standard", "waves roll in", image=photo(), image_mime="image/jpeg"),
        provider,
    )
    polls = 0
    while isinstance(outcome, Pending):
        assert outcome.provider == "fake"
        outcome = asyncio.run(provider.poll(outcome))
        polls += 1

    assert polls == 3 and outcome.mime == "video/mp4"
    data = outcome.data
    top = boxes(data)
    assert list(top) == ["ftyp", "moov", "mdat"]  # moov first: plays while downloading
    assert data[top["ftyp"][0] : top["ftyp"][0] + 4] == b"isom"
    assert b"avc1" in data[slice(*top["moov"])] and b"avcC" in data[slice(*top["moov"])]
    assert 1_000 < len(data) < 600_000


def test_a_poll_from_another_process_still_completes() -> None:
    provider = FakeProvider(polls=1)
    pending = Pending("fake/" + "ab" * 12 + "/1", "fake", "local", "fake-video-1")
    result = asyncio.run(provider.poll(pending))
    assert isinstance(result, MediaResult) and result.data[4:8] == b"ftyp"
