"""Results in S3 under ``media/<user>/<job>.<ext>`` (the cabinet lists them from there)."""

from __future__ import annotations

from typing import Any

from genbot.config import get_settings
from genbot.store.clients import client

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "text/plain": "txt",
}


def _s3() -> Any:
    return client("s3", read_timeout=10)  # results up to 50 MB go up from the generate function


def key_for(user_id: int, job_id: str, mime: str) -> str:
    return f"media/{user_id}/{job_id}.{EXTENSIONS.get(mime, 'bin')}"


def put(user_id: int, job_id: str, data: bytes, mime: str) -> str:
    """Store a result; the key is deterministic, so a retried job overwrites, never duplicates."""
    key = key_for(user_id, job_id, mime)
    _s3().put_object(Bucket=get_settings().media_bucket, Key=key, Body=data, ContentType=mime)
    return key


def get(key: str) -> bytes:
    body: bytes = _s3().get_object(Bucket=get_settings().media_bucket, Key=key)["Body"].read()
    return body


def presigned_url(key: str, expires: int) -> str:
    """A link to the user's own copy, for results too large for Telegram.

    A URL signed with the function's temporary credentials stops working when they expire,
    whatever ``expires`` says: keep it to hours.
    """
    url: str = _s3().generate_presigned_url(
        "get_object", Params={"Bucket": get_settings().media_bucket, "Key": key}, ExpiresIn=expires
    )
    return url
