"""AI providers: Gemini and OpenAI (and whatever the local stack registers) behind one router.

The generate worker uses ``ProviderRouter.run`` / ``poll`` and the errors in ``base``; the bot
uses ``moderation.check_prompt`` and ``Catalog.tiers`` for its menus. Adapters are imported
lazily by the router, so importing this package costs nothing at a cold start.
"""

from genbot.providers.base import (
    ExhaustedError,
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    ProviderError,
    QuotaError,
    RefusedError,
    TransientError,
)

__all__ = [
    "ExhaustedError",
    "GenerationRequest",
    "InvalidInputError",
    "MediaResult",
    "Pending",
    "ProviderError",
    "QuotaError",
    "RefusedError",
    "TransientError",
]
