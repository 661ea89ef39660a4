"""The generation being set up, stored on the user item (Lambda instances share no memory).

A draft moves through stages: choose a mode, (a tier), a photo, a prompt, then confirm.
Its ``nonce`` is set when the confirmation is shown; confirming consumes it in the same
transaction that debits, so a double tap on "Start" can't start (and charge) twice.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from pynamodb.expressions.update import Action

from genbot.store.models import User

MODES = ("image", "edit", "video", "describe")
NEEDS_PHOTO = frozenset({"edit", "video", "describe"})
PROMPT_OPTIONAL = frozenset({"video", "describe"})


@dataclass
class Draft:
    mode: str = ""
    tier: str = "standard"
    file_id: str | None = None
    prompt: str | None = None
    nonce: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, user: User | None) -> Draft | None:
        raw = user.draft if user is not None else None
        if not isinstance(raw, dict):
            return None
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def next_step(self) -> str:
        """What the user still has to give: mode, photo, prompt, or nothing (confirm)."""
        if self.mode not in MODES:
            return "mode"
        if self.mode in NEEDS_PHOTO and not self.file_id:
            return "photo"
        if self.prompt is None and self.mode not in PROMPT_OPTIONAL:
            return "prompt"
        if self.prompt is None and self.mode == "video":
            return "prompt"  # optional, but asked once (with a Skip button)
        return "confirm"


def save(user_id: int, draft: Draft | None) -> Draft | None:
    """Store (or clear) the draft; a draft ready to confirm gets a fresh nonce."""
    if draft is None:
        User(user_id).update(actions=[User.draft.remove(), User.draft_nonce.remove()])
        return None
    if draft.next_step() == "confirm":
        draft.nonce = secrets.token_hex(4)
    else:
        draft.nonce = None
    actions: list[Action] = [User.draft.set(asdict(draft))]
    actions.append(User.draft_nonce.set(draft.nonce) if draft.nonce else User.draft_nonce.remove())
    User(user_id).update(actions=actions)
    return draft
