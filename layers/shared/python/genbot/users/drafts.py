"""The generation a user is setting up, stored on the user item (Lambda instances share no memory).

A draft moves through steps: choose a mode, a tier, give a photo and/or a prompt, confirm.
Every button of a draft carries its ``id``: a button of an older draft says it no longer
works instead of acting on the current one. Confirming consumes the draft in the same
transaction that debits (``genbot.jobs.service.create``), so a double tap can't start twice.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from genbot.vocab import NEEDS_PHOTO, Mode, Tier


class Step(StrEnum):
    MODE = "mode"
    TIER = "tier"
    PHOTO = "photo"
    PROMPT = "prompt"
    CONFIRM = "confirm"


def new_id() -> str:
    return secrets.token_hex(4)


class Draft(BaseModel):
    id: str = Field(default_factory=new_id)
    mode: Mode | None = None
    tier: Tier | None = None
    file_id: str | None = None
    prompt: str | None = None
    caption: str | None = None  # a photo's caption, kept until a mode says what it is for
    message_id: int | None = None  # the message carrying this draft's buttons
    variant: int = 0  # > 0: a variation of an earlier result (a fresh composition)

    @classmethod
    def load(cls, raw: Any) -> Draft | None:
        """The stored draft, or None (nothing stored, or a shape from an older release)."""
        if not isinstance(raw, dict):
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def next_step(self) -> Step:
        """What the user still has to give."""
        if self.mode is None:
            return Step.MODE
        if self.tier is None:
            return Step.TIER
        if self.mode in NEEDS_PHOTO and not self.file_id:
            return Step.PHOTO
        if self.prompt is None and self.mode != Mode.DESCRIBE:
            return Step.PROMPT  # video: optional, but asked once (with a Skip button)
        return Step.CONFIRM
