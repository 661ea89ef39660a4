"""Ledger entry kinds as users read them (msgids; translated where shown: /balance, the cabinet)."""

from __future__ import annotations

from genbot.i18n import N_
from genbot.vocab import EntryKind

KIND_LABELS: dict[str, str] = {
    EntryKind.WELCOME: N_("welcome gift"),
    EntryKind.REFERRAL: N_("friend invited"),
    EntryKind.DAILY: N_("daily bonus"),
    EntryKind.DEBIT: N_("generation"),
    EntryKind.REFUND: N_("refund"),
    EntryKind.PURCHASE: N_("purchase"),
    EntryKind.SUBSCRIPTION: N_("subscription"),
    EntryKind.PROMO: N_("promo code"),
    EntryKind.GRANT: N_("gift from the team"),
}


def kind_label(kind: str) -> str:
    """The msgid for ``kind`` (an unknown kind: itself)."""
    return KIND_LABELS.get(kind, kind)
