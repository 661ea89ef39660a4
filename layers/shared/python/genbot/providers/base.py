"""Types shared by every AI provider adapter, and the errors the generate worker acts on.

The worker only needs to know *what to do* about a failure, so the error classes say exactly
that: a refusal or bad input is permanent (refund now), anything transient is retried later
through SQS. Adapters translate their SDK's errors into these and nothing else escapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from genbot.vocab import Mode, Tier


@dataclass(frozen=True)
class GenerationRequest:
    """What the user asked for; ``image`` is the input photo for edit / video / describe."""

    mode: Mode
    tier: Tier
    prompt: str
    image: bytes | None = None
    image_mime: str | None = None
    language: str = "ru"
    variant: int = 0  # > 0: the same request again, asking for a fresh composition


@dataclass(frozen=True)
class MediaResult:
    """A finished generation. ``data`` is empty for describe, whose answer is ``text``."""

    data: bytes
    mime: str
    text: str | None = None
    provider: str = ""
    model: str = ""


@dataclass(frozen=True)
class Pending:
    """A long-running operation (video) to poll later with the same provider and key.

    Stored on the job field by field; ``key_id`` is a fingerprint, never the key itself.
    """

    operation: str
    provider: str
    key_id: str
    model: str


class ProviderError(Exception):
    """Base of every error a provider adapter raises."""


class RefusedError(ProviderError):
    """The provider (or our moderation) refused on safety grounds: permanent, refund."""

    def __init__(self, reason: str = "safety", message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class InvalidInputError(ProviderError):
    """The input can't be processed (bad image, unsupported request): permanent, refund."""


class TransientError(ProviderError):
    """5xx, timeouts, network trouble: retry later (``retry_after`` seconds, when known)."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaError(TransientError):
    """429 / RESOURCE_EXHAUSTED / insufficient_quota, or a key the provider rejects.

    The router cools this key down in the pool and tries the next key or provider.
    """


class ExhaustedError(TransientError):
    """Every key of every eligible provider is cooling down or over its daily quota."""


class Provider(Protocol):
    """One AI vendor. Keys come from the router (the pool picks them), models from the catalog."""

    name: str

    async def generate(
        self, req: GenerationRequest, model: str, key: str, options: dict[str, object]
    ) -> MediaResult | Pending: ...

    async def poll(self, pending: Pending, key: str) -> MediaResult | Pending: ...

    async def aclose(self) -> None: ...


def sniff_mime(data: bytes) -> str | None:
    """The media type from the first bytes (providers sometimes omit or misstate it)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return None
