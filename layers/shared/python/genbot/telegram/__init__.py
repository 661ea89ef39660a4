"""Talking to the Telegram Bot API: Bot construction and webhook replies."""

from genbot.telegram.client import make_bot, prepare_session, webhook_reply

__all__ = ["make_bot", "prepare_session", "webhook_reply"]
