"""A generation draft asks for exactly what its mode still needs."""

from __future__ import annotations

import pytest

from genbot.bot.drafts import Draft


@pytest.mark.parametrize(
    ("draft", "step"),
    [
        (Draft(), "mode"),
        (Draft(mode="image"), "prompt"),
        (Draft(mode="image", prompt="a fox"), "confirm"),
        (Draft(mode="edit"), "photo"),
        (Draft(mode="edit", file_id="f"), "prompt"),
        (Draft(mode="video", file_id="f"), "prompt"),
        (Draft(mode="video", file_id="f", prompt=""), "confirm"),
        (Draft(mode="describe", file_id="f"), "confirm"),
        (Draft(mode="nonsense"), "mode"),
    ],
)
def test_next_step(draft, step) -> None:
    assert draft.next_step() == step
