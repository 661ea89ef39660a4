"""Bot users: registration with welcome credits and referrals, language, drafts, blocked flag."""

from genbot.users.drafts import Draft, Step
from genbot.users.service import (
    BonusClaim,
    Registration,
    claim_daily_bonus,
    clear_draft,
    draft_of,
    get_user,
    register,
    save_draft,
    set_blocked,
    set_chat_language,
    set_language,
    set_notice,
    took,
    touch,
)

__all__ = [
    "BonusClaim",
    "Draft",
    "Registration",
    "Step",
    "claim_daily_bonus",
    "clear_draft",
    "draft_of",
    "get_user",
    "register",
    "save_draft",
    "set_blocked",
    "set_chat_language",
    "set_language",
    "set_notice",
    "took",
    "touch",
]
