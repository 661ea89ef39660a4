"""The offline provider: real media, deterministic, no network, for the local stack and tests.

* image: a PNG drawn with Pillow (gradient, shapes, the prompt's first words), seeded from
  the prompt, so the same prompt gives the same picture;
* edit: the input photo posterised and tinted, with the prompt written on it;
* describe: a plausible prompt in the requested language, built from the photo's colours;
* video: a ``Pending`` operation that completes after ``polls`` polls (default 2) with a
  real 1 s MP4 (H.264, 128x96, 10 fps), the committed fixture ``media/fake-video.mp4.gz``.

This module lives in the local package: the Lambda layer never ships it, and the production
provider registry does not know it; the local stack registers it (``register()``).

Test hooks: prompts with the word "refuse" or "unsafe" are refused (``RefusedError("safety")``);
"flaky" fails once per prompt text with a ``TransientError`` (remembered in this process);
"garbage" returns bytes that are no picture (labelled image/png); "panorama" returns a
3000x100 PNG, too thin for Telegram's photos (it must go as a document).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbot.config import Settings
from genbot.providers import registry
from genbot.providers.base import (
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    RefusedError,
    TransientError,
)
from genbot.vocab import Mode, Tier

if TYPE_CHECKING:
    from PIL import Image as PILImage

NAME = "fake"
_REFUSE = re.compile(r"\b(refuse|unsafe)\b", re.IGNORECASE)
_FLAKY = re.compile(r"\bflaky\b", re.IGNORECASE)
_GARBAGE = re.compile(r"\bgarbage\b", re.IGNORECASE)
_PANORAMA = re.compile(r"\bpanorama\b", re.IGNORECASE)
_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
)
VIDEO_FIXTURE = Path(__file__).parent / "media" / "fake-video.mp4.gz"


def _seed(*parts: str | bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.digest()


def _color(seed: bytes, offset: int) -> tuple[int, int, int]:
    return seed[offset % 32], seed[(offset + 1) % 32], seed[(offset + 2) % 32]


def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in _FONT_PATHS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def _caption(image: PILImage.Image, text: str, seed: bytes) -> None:
    """Write ``text`` (first words) on a translucent band at the bottom."""
    from PIL import ImageDraw

    words = " ".join(text.split()[:6]) or "…"
    width, height = image.size
    size = max(12, width // 22)
    font = _font(size)
    draw = ImageDraw.Draw(image, "RGBA")
    band = int(size * 2.2)
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 140))
    draw.text((size // 2, height - band + size // 2), words, font=font, fill=(255, 255, 255, 255))
    draw.text(
        (width - size * 3, size // 3), "fake", font=_font(max(10, size // 2)), fill=(*_color(seed, 9), 255)
    )


def _png(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def render_image(prompt: str, size: tuple[int, int] = (512, 512), variant: int = 0) -> bytes:
    """A deterministic PNG for a prompt (and variant): gradient, a few shapes, the first words."""
    from PIL import Image, ImageDraw

    seed = _seed("image", prompt, str(variant) if variant else "")
    width, height = size
    top, bottom = _color(seed, 0), _color(seed, 3)
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image, "RGBA")
    for i in range(5):
        b = seed[6 + i * 5 : 11 + i * 5]
        x, y = b[0] * width // 256, b[1] * height // 256
        r = 20 + b[2] * min(width, height) // 640
        fill = (*_color(seed, 12 + i * 3), 170)
        if b[3] % 2:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=fill)
    _caption(image, prompt, seed)
    return _png(image)


def _open(data: bytes | None) -> PILImage.Image:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInputError("this mode needs an input image")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError("the input is not a readable image") from exc
    return image.convert("RGB")


def edit_image(data: bytes, prompt: str, variant: int = 0) -> bytes:
    """The input visibly transformed: posterised, tinted by the prompt, captioned."""
    from PIL import Image, ImageOps

    seed = _seed("edit", prompt, str(variant) if variant else "")
    image = _open(data)
    image.thumbnail((1024, 1024))
    poster = ImageOps.posterize(image, 3)
    tinted = Image.blend(poster, Image.new("RGB", image.size, _color(seed, 0)), 0.3)
    _caption(tinted, prompt, seed)
    return _png(tinted)


_COLOR_WORDS = {
    "ru": {
        "red": "красных",
        "orange": "тёплых оранжевых",
        "yellow": "солнечных жёлтых",
        "green": "зелёных",
        "teal": "бирюзовых",
        "blue": "холодных синих",
        "purple": "фиолетовых",
        "gray": "приглушённых серых",
    },
    "en": {
        "red": "red",
        "orange": "warm orange",
        "yellow": "sunny yellow",
        "green": "green",
        "teal": "teal",
        "blue": "cool blue",
        "purple": "purple",
        "gray": "muted grey",
    },
}


def _hue_name(rgb: tuple[int, int, int]) -> str:
    import colorsys

    h, s, _v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if s < 0.15:
        return "gray"
    degrees = h * 360
    for limit, name in ((15, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (200, "teal")):
        if degrees < limit:
            return name
    return "blue" if degrees < 260 else "purple" if degrees < 330 else "red"


def describe_image(data: bytes, language: str) -> str:
    """A plausible image-generation prompt for the photo, in ``language`` (ru or en)."""
    from PIL import ImageStat

    image = _open(data)
    mean = ImageStat.Stat(image).mean
    rgb = (int(mean[0]), int(mean[1]), int(mean[2]))
    bright = sum(rgb) / 3 > 128
    orientation = (
        "portrait" if image.height > image.width else "landscape" if image.width > image.height else "square"
    )
    lang = "ru" if language.startswith("ru") else "en"
    colors = _COLOR_WORDS[lang][_hue_name(rgb)]
    if lang == "ru":
        light = "мягкий дневной свет" if bright else "приглушённый вечерний свет"
        shape = {
            "portrait": "вертикальный кадр",
            "landscape": "горизонтальный кадр",
            "square": "квадратный кадр",
        }
        return (
            f"Фотография в {colors} тонах, {light}, {shape[orientation]}, "
            "чёткий главный объект в центре, неглубокая резкость, естественные цвета, высокая детализация"
        )
    light = "soft daylight" if bright else "dim evening light"
    return (
        f"A photo in {colors} tones, {light}, {orientation} composition, a clear main subject in the "
        "centre, shallow depth of field, natural colours, highly detailed"
    )


# -- video: H.264 (Baseline, I_PCM) in MP4, in pure Python ------------------------------------


def render_video() -> bytes:
    """A real 1 s MP4 (H.264, 128x96) that browsers and Telegram play: a committed fixture."""
    return gzip.decompress(VIDEO_FIXTURE.read_bytes())


class FakeProvider:
    """Deterministic offline stand-in for every mode (see the module docstring)."""

    name = NAME

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls

    def _hooks(self, prompt: str) -> None:
        if _REFUSE.search(prompt):
            raise RefusedError("safety", "the fake provider refuses prompts with 'refuse' or 'unsafe'")
        if _FLAKY.search(prompt):
            with _LOCK:
                first = prompt not in _FLAKY_SEEN
                _FLAKY_SEEN.add(prompt)
            if first:
                raise TransientError("the fake provider fails 'flaky' prompts once")

    async def generate(
        self, req: GenerationRequest, model: str, key: str = "", options: dict[str, object] | None = None
    ) -> MediaResult | Pending:
        self._hooks(req.prompt)
        if req.mode in ("image", "edit") and _GARBAGE.search(req.prompt):
            return MediaResult(b"<html>upstream error</html>", "image/png", provider=NAME, model=model)
        if req.mode in ("image", "edit") and _PANORAMA.search(req.prompt):
            return MediaResult(
                render_image(req.prompt, size=(3000, 100)), "image/png", provider=NAME, model=model
            )
        if req.mode == "image":
            image = render_image(req.prompt, variant=req.variant)
            return MediaResult(image, "image/png", provider=NAME, model=model)
        if req.mode == "edit":
            image = edit_image(req.image or b"", req.prompt, req.variant)
            return MediaResult(image, "image/png", provider=NAME, model=model)
        if req.mode == "describe":
            text = describe_image(req.image or b"", req.language)
            return MediaResult(b"", "text/plain", text=text, provider=NAME, model=model)
        if req.mode == "video":
            op_id = _seed("video", req.prompt, req.image or b"").hex()[:24]
            return Pending(f"fake/{op_id}/{self.polls}", NAME, "local", model)
        raise InvalidInputError(f"unknown mode {req.mode!r}")

    async def poll(self, pending: Pending, key: str = "") -> MediaResult | Pending:
        try:
            _, op_id, left = pending.operation.split("/")
            remaining = int(left) - 1
        except ValueError:
            raise InvalidInputError(f"not a fake operation: {pending.operation!r}") from None
        if remaining > 0:
            return Pending(f"fake/{op_id}/{remaining}", NAME, pending.key_id, pending.model)
        video = render_video()
        return MediaResult(video, "video/mp4", provider=NAME, model=pending.model)

    async def aclose(self) -> None:
        return None


# Process-wide so every router in this process (one per worker thread) agrees.
_LOCK = threading.Lock()
_FLAKY_SEEN: set[str] = set()

FAKE_ENTRIES: dict[Mode, dict[Tier, list[dict[str, Any]]]] = {
    Mode.IMAGE: {Tier.STANDARD: [{"model": "fake-image-1"}], Tier.PRO: [{"model": "fake-image-1-pro"}]},
    Mode.EDIT: {Tier.STANDARD: [{"model": "fake-edit-1"}], Tier.PRO: [{"model": "fake-edit-1-pro"}]},
    Mode.VIDEO: {Tier.STANDARD: [{"model": "fake-video-1"}], Tier.PRO: [{"model": "fake-video-1-pro"}]},
    Mode.DESCRIBE: {Tier.STANDARD: [{"model": "fake-describe-1"}]},
}


def no_real_keys(settings: Settings) -> bool:
    """``auto``: the fake serves only when no production provider can."""
    return not any(spec.available(settings) for spec in registry.PRODUCTION)


def register(*, when: str = "auto", polls: int = 2) -> None:
    """Make the fake a provider of this process: ``auto`` (only without real keys), ``on``, ``off``."""
    if when == "off":
        registry.unregister(NAME)
        return
    available = no_real_keys if when == "auto" else (lambda settings: True)
    registry.register(
        registry.ProviderSpec(
            NAME,
            factory=lambda settings: FakeProvider(polls=polls),
            available=available,
            keyed=False,
            entries={
                mode: {tier: [{"provider": NAME, **e} for e in es] for tier, es in tiers.items()}
                for mode, tiers in FAKE_ENTRIES.items()
            },
        )
    )
