"""The offline provider: real media, deterministic, no network, for the local stack and tests.

* image: a PNG drawn with Pillow (gradient, shapes, the prompt's first words), seeded from
  the prompt, so the same prompt gives the same picture;
* edit: the input photo posterised and tinted, with the prompt written on it;
* describe: a plausible prompt in the requested language, built from the photo's colours;
* video: a ``Pending`` operation that completes after ``GENBOT_FAKE_VIDEO_POLLS`` polls
  (default 2) with a real 1.5 s MP4 (H.264, 128x96, 10 fps) that browsers and Telegram play.

The MP4 is written by a few dozen lines of pure Python below (H.264 Baseline with I_PCM
macroblocks, i.e. uncompressed samples in a standard bitstream, in an ISO-BMFF container):
no ffmpeg, no PyAV, nothing added to the install. The price is size (~280 KB for 1.5 s), fine
for a stand-in. Pillow is imported lazily: the Lambda layer doesn't ship it and never loads
this module unless no provider keys are set.

Test hooks: prompts with the word "refuse" or "unsafe" are refused (``RefusedError("safety")``);
"flaky" fails once per prompt text with a ``TransientError`` (remembered in this process).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from genbot.providers.base import (
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    RefusedError,
    TransientError,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage

NAME = "fake"
_REFUSE = re.compile(r"\b(refuse|unsafe)\b", re.IGNORECASE)
_FLAKY = re.compile(r"\bflaky\b", re.IGNORECASE)
_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
)
VIDEO_SIZE = (128, 96)
VIDEO_FPS = 10
VIDEO_FRAMES = 15


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


def render_image(prompt: str, size: tuple[int, int] = (512, 512)) -> bytes:
    """A deterministic PNG for a prompt: gradient, a few shapes, the first words."""
    from PIL import Image, ImageDraw

    seed = _seed("image", prompt)
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


def edit_image(data: bytes, prompt: str) -> bytes:
    """The input visibly transformed: posterised, tinted by the prompt, captioned."""
    from PIL import Image, ImageOps

    seed = _seed("edit", prompt)
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


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits.extend((value >> (n - 1 - i)) & 1 for i in range(n))

    def ue(self, value: int) -> None:
        x = value + 1
        self.u(2 * x.bit_length() - 1, x)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def trailing(self) -> None:
        self.bits.append(1)
        self.align_zero()

    def bytes(self) -> bytes:
        assert len(self.bits) % 8 == 0
        out = bytearray()
        for i in range(0, len(self.bits), 8):
            byte = 0
            for bit in self.bits[i : i + 8]:
                byte = (byte << 1) | bit
            out.append(byte)
        return bytes(out)


def _nal(header: int, rbsp: bytes) -> bytes:
    """A NAL unit with emulation prevention (no 00 00 0x<=3 inside the payload)."""
    out = bytearray([header])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps(width: int, height: int) -> bytes:
    b = _Bits()
    b.u(8, 66)  # profile_idc: Baseline
    b.u(8, 0xC0)  # constraint_set0/1: constrained baseline
    b.u(8, 30)  # level 3.0
    b.ue(0)  # seq_parameter_set_id
    b.ue(0)  # log2_max_frame_num_minus4
    b.ue(2)  # pic_order_cnt_type 2: output order = decode order
    b.ue(1)  # max_num_ref_frames
    b.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    b.ue(width // 16 - 1)
    b.ue(height // 16 - 1)
    b.u(1, 1)  # frame_mbs_only_flag
    b.u(1, 1)  # direct_8x8_inference_flag
    b.u(1, 0)  # frame_cropping_flag
    b.u(1, 0)  # vui_parameters_present_flag
    b.trailing()
    return _nal(0x67, b.bytes())


def _pps() -> bytes:
    b = _Bits()
    b.ue(0)  # pic_parameter_set_id
    b.ue(0)  # seq_parameter_set_id
    b.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    b.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    b.ue(0)  # num_slice_groups_minus1
    b.ue(0)  # num_ref_idx_l0_default_active_minus1
    b.ue(0)  # num_ref_idx_l1_default_active_minus1
    b.u(1, 0)  # weighted_pred_flag
    b.u(2, 0)  # weighted_bipred_idc
    b.se(0)  # pic_init_qp_minus26
    b.se(0)  # pic_init_qs_minus26
    b.se(0)  # chroma_qp_index_offset
    b.u(1, 1)  # deblocking_filter_control_present_flag
    b.u(1, 0)  # constrained_intra_pred_flag
    b.u(1, 0)  # redundant_pic_cnt_present_flag
    b.trailing()
    return _nal(0x68, b.bytes())


def _idr_slice(y: bytes, cb: bytes, cr: bytes, width: int, height: int, idr_id: int) -> bytes:
    """One IDR picture: a slice header, then every macroblock as I_PCM (raw 4:2:0 samples)."""
    b = _Bits()
    b.ue(0)  # first_mb_in_slice
    b.ue(7)  # slice_type: I (all slices)
    b.ue(0)  # pic_parameter_set_id
    b.u(4, 0)  # frame_num
    b.ue(idr_id % 65536)  # idr_pic_id: consecutive IDRs must differ
    b.u(1, 0)  # no_output_of_prior_pics_flag
    b.u(1, 0)  # long_term_reference_flag
    b.se(0)  # slice_qp_delta
    b.ue(1)  # disable_deblocking_filter_idc: off
    out = bytearray()
    cw = width // 2
    for my in range(height // 16):
        for mx in range(width // 16):
            mb = b if (mx, my) == (0, 0) else _Bits()  # the first one follows the header bits
            mb.ue(25)  # mb_type I_PCM
            mb.align_zero()  # pcm_alignment_zero_bit
            out += mb.bytes()
            for row in range(16):
                start = (my * 16 + row) * width + mx * 16
                out += y[start : start + 16]
            for plane in (cb, cr):
                for row in range(8):
                    start = (my * 8 + row) * cw + mx * 8
                    out += plane[start : start + 8]
    out.append(0x80)  # rbsp_slice_trailing_bits
    return _nal(0x65, bytes(out))


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4_from_yuv(frames: list[tuple[bytes, bytes, bytes]], width: int, height: int, fps: int) -> bytes:
    """An MP4 (ftyp, moov, mdat; 'faststart' order) of 4:2:0 frames, H.264 Baseline I_PCM.

    ``frames`` are (Y, Cb, Cr) planes in studio range; width and height multiples of 16.
    """
    if width % 16 or height % 16 or not frames:
        raise ValueError("width and height must be multiples of 16, and there must be frames")
    sps, pps = _sps(width, height), _pps()
    samples = [
        struct.pack(">I", len(nal)) + nal
        for nal in (_idr_slice(*planes, width, height, i) for i, planes in enumerate(frames))
    ]
    timescale, delta = fps * 1000, 1000
    duration_ms = len(samples) * 1000 // fps
    avcc = _box(
        b"avcC",
        bytes([1, 66, 0xC0, 30, 0xFF, 0xE1]),
        struct.pack(">H", len(sps)),
        sps,
        b"\x01",
        struct.pack(">H", len(pps)),
        pps,
    )
    avc1 = _box(
        b"avc1",
        b"\0" * 6,
        struct.pack(">H", 1),  # data_reference_index
        b"\0" * 16,
        struct.pack(">HH", width, height),
        struct.pack(">II", 0x480000, 0x480000),
        struct.pack(">I", 0),
        struct.pack(">H", 1),  # frame_count
        bytes([8]) + b"genbot-fake".ljust(31, b"\0"),
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )

    def moov(chunk_offset: int) -> bytes:
        stbl = _box(
            b"stbl",
            _full(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
            _full(b"stts", 0, 0, struct.pack(">III", 1, len(samples), delta)),
            _full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(samples), 1)),
            _full(
                b"stsz",
                0,
                0,
                struct.pack(">II", 0, len(samples)),
                *(struct.pack(">I", len(s)) for s in samples),
            ),
            _full(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        minf = _box(
            b"minf",
            _full(b"vmhd", 0, 1, b"\0" * 8),
            _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1))),
            stbl,
        )
        mdia = _box(
            b"mdia",
            _full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, len(samples) * delta, 0x55C4, 0)),
            _full(b"hdlr", 0, 0, b"\0" * 4, b"vide", b"\0" * 12, b"VideoHandler\0"),
            minf,
        )
        tkhd = _full(
            b"tkhd",
            0,
            3,
            struct.pack(">IIIII", 0, 0, 1, 0, duration_ms),
            b"\0" * 8,
            struct.pack(">hhhH", 0, 0, 0, 0),
            _MATRIX,
            struct.pack(">II", width << 16, height << 16),
        )
        mvhd = _full(
            b"mvhd",
            0,
            0,
            struct.pack(">IIII", 0, 0, 1000, duration_ms),
            struct.pack(">IH", 0x10000, 0x100),
            b"\0" * 10,
            _MATRIX,
            b"\0" * 24,
            struct.pack(">I", 2),
        )
        return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))

    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    size = len(moov(0))
    return ftyp + moov(len(ftyp) + size + 8) + _box(b"mdat", *samples)


def _studio_planes(frame: PILImage.Image) -> tuple[bytes, bytes, bytes]:
    """Full-range RGB -> 4:2:0 planes in studio range (what a decoder assumes with no VUI)."""
    from PIL import Image

    y, cb, cr = frame.convert("YCbCr").split()
    half = (frame.width // 2, frame.height // 2)
    luma = y.point([16 + v * 219 // 255 for v in range(256)])
    chroma = [16 + v * 224 // 255 for v in range(256)]
    return (
        luma.tobytes(),
        cb.resize(half, Image.Resampling.BOX).point(chroma).tobytes(),
        cr.resize(half, Image.Resampling.BOX).point(chroma).tobytes(),
    )


def render_video(seed: bytes, still: bytes | None = None) -> bytes:
    """1.5 s of slow zoom and a moving light over the photo (or a seeded gradient), as MP4."""
    from PIL import Image, ImageDraw

    width, height = VIDEO_SIZE
    if still:
        base = Image.open(io.BytesIO(still)).convert("RGB")
    else:
        gradient = Image.linear_gradient("L").resize((width * 2, height * 2))
        base = Image.composite(
            Image.new("RGB", gradient.size, _color(seed, 3)),
            Image.new("RGB", gradient.size, _color(seed, 0)),
            gradient,
        )
    big = base.resize((width * 2, height * 2), Image.Resampling.BICUBIC)
    frames = []
    for i in range(VIDEO_FRAMES):
        t = i / max(1, VIDEO_FRAMES - 1)
        zoom = 1.0 + 0.25 * t
        cw, ch = int(big.width / zoom), int(big.height / zoom)
        left = int((big.width - cw) * (0.5 + 0.3 * (t - 0.5)))
        top = (big.height - ch) // 2
        frame = big.crop((left, top, left + cw, top + ch)).resize((width, height), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(frame, "RGBA")
        x = int(-20 + (width + 40) * t)
        draw.ellipse((x - 14, height // 3 - 14, x + 14, height // 3 + 14), fill=(255, 255, 255, 90))
        frames.append(_studio_planes(frame))
    return mp4_from_yuv(frames, width, height, VIDEO_FPS)


def _thumbnail(data: bytes) -> bytes:
    image = _open(data)
    image.thumbnail((VIDEO_SIZE[0] * 2, VIDEO_SIZE[1] * 2))
    return _png(image)


class FakeProvider:
    """Deterministic offline stand-in for every mode (see the module docstring)."""

    name = NAME

    def __init__(self, polls: int | None = None) -> None:
        env = os.environ.get("GENBOT_FAKE_VIDEO_POLLS", "")
        self.polls = polls if polls is not None else int(env) if env.isdigit() else 2

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
        if req.mode == "image":
            return MediaResult(render_image(req.prompt), "image/png", provider=NAME, model=model)
        if req.mode == "edit":
            return MediaResult(
                edit_image(req.image or b"", req.prompt), "image/png", provider=NAME, model=model
            )
        if req.mode == "describe":
            text = describe_image(req.image or b"", req.language)
            return MediaResult(b"", "text/plain", text=text, provider=NAME, model=model)
        if req.mode == "video":
            still = _thumbnail(req.image) if req.image else None
            op_id = _seed("video", req.prompt, req.image or b"").hex()[:24]
            if still:
                with _LOCK:
                    _STILLS[op_id] = still
                    while len(_STILLS) > 64:
                        _STILLS.popitem(last=False)
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
        with _LOCK:
            still = _STILLS.pop(op_id, None)  # another process started it: a gradient instead
        video = render_video(bytes.fromhex(op_id.ljust(64, "0")), still)
        return MediaResult(video, "video/mp4", provider=NAME, model=pending.model)

    async def aclose(self) -> None:
        return None


# Process-wide so every router in this process (one per worker thread) agrees.
_LOCK = threading.Lock()
_FLAKY_SEEN: set[str] = set()
_STILLS: OrderedDict[str, bytes] = OrderedDict()
