"""Results in S3 under ``media/<user>/<job>.<ext>`` (the cabinet lists them from there)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3

from genbot.config import get_settings

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "text/plain": "txt",
}


@cache
def _s3() -> Any:
    return boto3.client("s3", region_name=get_settings().aws_region)


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
