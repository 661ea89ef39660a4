"""What a job takes from Telegram: the user's photo or voice, and the one retry signal."""

from __future__ import annotations

from aiogram.exceptions import AiogramError

from genbot import runtime
from genbot.config import Settings
from genbot.providers.base import InvalidInputError
from genbot.telegram.sending import classify


class RetryLaterError(Exception):
    """Transient trouble: make SQS deliver this message again after ``delay`` seconds."""

    def __init__(self, delay: int, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


async def download(settings: Settings, file_id: str) -> bytes:
    """A user's file through the Bot API (getFile, then the file URL; bots get <= 20 MB).

    Telegram trouble that may pass raises ``RetryLaterError``; a file that can't be had (too
    large, gone) raises ``InvalidInputError``.
    """
    bot = runtime.bot()
    try:
        file = await bot.get_file(file_id)
        if (file.file_size or 0) > settings.max_input_bytes or not file.file_path:
            raise InvalidInputError("input too large or unavailable")
        buffer = await bot.download_file(file.file_path)
    except (AiogramError, TimeoutError, OSError) as exc:
        failure = classify(exc)
        if failure.retryable:
            raise RetryLaterError(failure.retry_after, f"telegram download: {failure}") from exc
        raise InvalidInputError(f"telegram download: {failure}") from exc
    return buffer.read() if buffer is not None else b""
