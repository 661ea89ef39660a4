"""What a provider returned, checked before it is stored or sent.

The type is sniffed from the bytes (a provider's word is not enough), the picture's size read
from its header, and the result matched against Telegram's limits: a photo is at most 10 MB,
width + height at most 10000 and a side ratio of at most 20; anything a bot uploads is at most
50 MB. What fits neither goes as a link to the user's own copy in S3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from genbot.providers.base import sniff_mime

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_RATIO = 20
UPLOAD_MAX_BYTES = 50 * 1024 * 1024


class Form(StrEnum):
    """How a result reaches the user."""

    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"
    LINK = "link"


class BadOutputError(ValueError):
    """The provider's output is not a picture or video we can use."""


@dataclass(frozen=True)
class MediaInfo:
    mime: str
    size: int
    width: int = 0
    height: int = 0


def _png_size(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR" or len(data) < 24:
        raise BadOutputError("PNG without a header")
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise BadOutputError("JPEG without a frame header")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise BadOutputError("WebP without a known header")


def inspect(data: bytes) -> MediaInfo:
    """Type and size of a result; BadOutputError when it is neither a picture nor a video."""
    mime = sniff_mime(data)
    if mime is None:
        raise BadOutputError("not a PNG, JPEG, WebP or MP4")
    if mime == "video/mp4":
        return MediaInfo(mime, len(data))
    reader = {"image/png": _png_size, "image/jpeg": _jpeg_size, "image/webp": _webp_size}[mime]
    width, height = reader(data)
    if width <= 0 or height <= 0:
        raise BadOutputError(f"a picture of {width}x{height}")
    return MediaInfo(mime, len(data), width, height)


def forms(info: MediaInfo) -> list[Form]:
    """The ways to send it, best first (the next one is tried when Telegram refuses one)."""
    if info.size > UPLOAD_MAX_BYTES:
        return [Form.LINK]
    if info.mime.startswith("video/"):
        return [Form.VIDEO, Form.DOCUMENT, Form.LINK]
    photo_ok = (
        info.size <= PHOTO_MAX_BYTES
        and info.width + info.height <= PHOTO_MAX_SIDES
        and max(info.width, info.height) <= PHOTO_MAX_RATIO * min(info.width, info.height)
    )
    return [Form.PHOTO, Form.DOCUMENT, Form.LINK] if photo_ok else [Form.DOCUMENT, Form.LINK]
