"""Bot users: registration with welcome credits and referrals, language, blocked flag."""

from genbot.users.service import Registration, get_user, register, set_blocked, set_language

__all__ = ["Registration", "get_user", "register", "set_blocked", "set_language"]
