"""Labels shared by the menus, the help text and the commands list (msgids, translated where shown)."""

from __future__ import annotations

from aiogram.utils.i18n import ngettext

from genbot.i18n import N_
from genbot.vocab import Mode, Tier

MODE_LABELS: dict[Mode, str] = {
    Mode.IMAGE: N_("🖼 Picture from text"),
    Mode.EDIT: N_("✏️ Edit a photo"),
    Mode.VIDEO: N_("🎬 Animate a photo"),
    Mode.DESCRIBE: N_("🔎 Prompt from a photo"),
}
TIER_LABELS: dict[Tier, str] = {Tier.STANDARD: N_("Standard"), Tier.PRO: N_("Pro")}


def credits(n: int) -> str:
    """``1 credit``, ``2 credits`` (ru: 1 кредит, 2 кредита, 5 кредитов) in the update's language."""
    return ngettext("{n} credit", "{n} credits", n).format(n=n)
