"""The bot: aiogram routers, one per feature (``genbot.bot.dispatcher`` includes them)."""
