"""A generation draft asks for exactly what its mode still needs, and survives storage."""

from __future__ import annotations

import pytest

from genbot.users import Draft


@pytest.mark.parametrize(
    ("draft", "step"),
    [
        (Draft(), "mode"),
        (Draft(mode="image"), "tier"),
        (Draft(mode="image", tier="pro"), "prompt"),
        (Draft(mode="image", tier="standard", prompt="a fox"), "confirm"),
        (Draft(mode="edit", tier="standard"), "photo"),
        (Draft(mode="edit", tier="standard", file_id="f"), "prompt"),
        (Draft(mode="video", tier="standard", file_id="f"), "prompt"),
        (Draft(mode="video", tier="standard", file_id="f", prompt=""), "confirm"),
        (Draft(mode="describe", tier="standard", file_id="f"), "confirm"),
    ],
)
def test_next_step(draft: Draft, step: str) -> None:
    assert draft.next_step() == step


def test_a_stored_draft_round_trips_and_a_foreign_shape_is_no_draft() -> None:
    draft = Draft(mode="edit", tier="pro", file_id="f", prompt="p", message_id=7, variant=2)
    assert Draft.load(draft.dump()) == draft
    assert Draft.load({"mode": "nonsense"}) is None and Draft.load(None) is None
    assert Draft().id != Draft().id  # each draft its own id: old buttons can't act on a new one
