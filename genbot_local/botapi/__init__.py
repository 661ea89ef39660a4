"""A local Telegram Bot API stand-in (and its web chat) for running and testing the bot offline."""

from genbot_local.botapi.server import ApiError, BotApiStandIn, FloodLimits, RecordedCall, SimUser

__all__ = ["ApiError", "BotApiStandIn", "FloodLimits", "RecordedCall", "SimUser"]
