"""Files the Bot API stand-in holds: uploads, user photos, and what they look like as Bot API objects.

Telegram keeps every uploaded file under a ``file_id`` that can be sent again, resolved with
getFile and downloaded from ``/file/bot<token>/<file_path>``. The stand-in does the same in
memory, so a bot that re-sends a file_id, or downloads a user's photo, runs as in production.
Image dimensions are read from the file header (PNG, JPEG, GIF, WebP) without Pillow; a photo
a *user* sends is scaled down with Pillow (a dev dependency) as Telegram does, and kept as sent
where Pillow is missing.
"""

from __future__ import annotations

import io
import itertools
import mimetypes
import secrets
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

PHOTO_SIZES = (90, 320, 800, 1280)
USER_PHOTO_SIDE = 1280  # a photo sent *as a photo*: Telegram keeps at most this, as JPEG
JPEG_QUALITY = 87
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
FILE_UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
_KIND_PREFIX = {"photo": "AgAC", "video": "BAAC", "animation": "CgAC", "document": "BQAC", "voice": "AwAC"}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image, or None if it is none of those."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


@dataclass
class StoredFile:
    """One file_id's content; several file_ids (photo sizes) may share the same bytes."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None  # None: given by a URL the stand-in may not fetch (no network)
    mime_type: str
    file_name: str
    file_path: str
    width: int = 0
    height: int = 0
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0

    def as_file(self) -> dict[str, Any]:
        """The Bot API File object (getFile's result)."""
        result: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.data is not None:
            result["file_size"] = self.size
            result["file_path"] = self.file_path
        return result


class FileStore:
    """Thread-safe file_id -> StoredFile map with Telegram-looking identifiers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        with self._lock:
            return self._by_path.get(file_path)

    def add(
        self,
        kind: str,
        data: bytes | None,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        width: int = 0,
        height: int = 0,
        url: str | None = None,
    ) -> StoredFile:
        number = next(self._counter)
        file_name = file_name or f"file_{number}"
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        ext = mimetypes.guess_extension(mime_type) or ""
        if ext == ".jpe":
            ext = ".jpg"
        folder = {"photo": "photos", "video": "videos", "animation": "animations", "voice": "voice"}.get(
            kind, "documents"
        )
        stored = StoredFile(
            file_id=f"{_KIND_PREFIX.get(kind, 'BQAC')}AgIAAxkBAA{number:05d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AQAD{number:04d}{secrets.token_urlsafe(6)}",
            kind=kind,
            data=data,
            mime_type=mime_type,
            file_name=file_name,
            file_path=f"{folder}/file_{number}{ext}",
            width=width,
            height=height,
            url=url,
        )
        with self._lock:
            self._by_id[stored.file_id] = stored
            self._by_path[stored.file_path] = stored
        return stored

    def add_photo(self, data: bytes | None, *, url: str | None = None) -> list[dict[str, Any]]:
        """Store a photo; returns its PhotoSize list, smallest first, as Telegram sends it.

        Telegram keeps thumbnails scaled to 90/320/800/1280 px plus the original; here they are
        separate file_ids that all serve the original bytes.
        """
        width, height = (image_size(data) if data is not None else None) or (1280, 720)
        longest = max(width, height)
        sides = [s for s in PHOTO_SIZES if s < longest] + [min(longest, 2560)]
        sizes = []
        for side in sides:
            scale = side / longest
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            stored = self.add("photo", data, mime_type="image/jpeg", width=w, height=h, url=url)
            sizes.append(photo_size(stored))
        return sizes

    def add_user_photo(self, data: bytes) -> list[dict[str, Any]]:
        """A photo a user sends as a photo: what Telegram makes of it, smallest first.

        Telegram recompresses it: JPEG thumbnails of 90/320/800 px and the photo itself with
        its longest side at most 1280 px, each with its own bytes and ``file_size``; so a
        20 MB camera picture arrives as a photo of a few hundred KB. A photo that already fits
        (at most 1280 px and 10 MB) keeps its bytes as its largest size. Without Pillow, or
        for bytes it can't decode, every size serves the bytes as sent (``add_photo``).
        """
        rendered = _telegram_photo_sizes(data)
        if rendered is None:
            return self.add_photo(data)
        sizes = []
        for content, (w, h) in rendered:
            stored = self.add("photo", content, mime_type="image/jpeg", width=w, height=h)
            sizes.append(photo_size(stored))
        return sizes


def _telegram_photo_sizes(data: bytes) -> list[tuple[bytes, tuple[int, int]]] | None:
    """(JPEG bytes, (width, height)) per photo size, smallest first; None if Pillow can't."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except Exception:  # not an image Pillow reads (or a decompression bomb): keep the bytes
        return None
    width, height = image.size
    longest = max(width, height)
    top = min(longest, USER_PHOTO_SIDE)
    if image.mode != "RGB":  # JPEG has no alpha: transparent parts become white, as in Telegram
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    out = []
    for side in [s for s in PHOTO_SIZES if s < top] + [top]:
        if side == longest and len(data) <= PHOTO_UPLOAD_LIMIT and image_size(data) is not None:
            out.append((data, (width, height)))  # already fits: kept as sent
            continue
        scale = side / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        buffer = io.BytesIO()
        image.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=JPEG_QUALITY)
        out.append((buffer.getvalue(), size))
    return out


def photo_size(stored: StoredFile) -> dict[str, Any]:
    size = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": stored.width,
        "height": stored.height,
    }
    if stored.data is not None:
        size["file_size"] = stored.size
    return size


def media_object(stored: StoredFile, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The Video / Animation / Document object for a stored file."""
    obj: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": stored.file_name,
        "mime_type": stored.mime_type,
    }
    if stored.data is not None:
        obj["file_size"] = stored.size
    if kind in ("video", "animation"):
        size = image_size(stored.data or b"") if kind == "animation" else None
        obj["width"] = int(params.get("width") or stored.width or (size[0] if size else 640))
        obj["height"] = int(params.get("height") or stored.height or (size[1] if size else 360))
        obj["duration"] = int(params.get("duration") or stored.extra.get("duration") or 0)
    return obj
