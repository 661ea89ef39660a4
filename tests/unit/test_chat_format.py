"""The model's Markdown reaches Telegram as HTML the Bot API accepts, in pieces within its limit.

Every piece is checked with the Bot API stand-in's own parser (tdlib's rules for
``parse_mode=HTML``) and its UTF-16 length, as a real ``sendMessage`` would be.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from genbot.chat.format import HTML_FACTOR, LIMIT, plain, preview, split, to_html
from genbot_local.botapi.text import check_text, formatted, parse_html, utf16_len

CODE_LINES = [f"    total_{i} = compute({i}) if a < b && c > d else {{'k': {i}}}  # {i}" for i in range(100)]


def sendable(piece: str, limit: int = LIMIT) -> tuple[str, list[dict[str, Any]]]:
    """The piece's visible text and entities; fails as the Bot API would on anything wrong."""
    text, entities = parse_html(piece)  # raises BadRequest "can't parse entities: ..."
    assert utf16_len(text) <= limit
    if limit >= 100:  # below that, one character's tags alone may outgrow the budget
        assert len(piece) <= HTML_FACTOR * limit
    assert plain(piece) == text
    assert text.strip(), "an empty piece would be 'message text is empty'"
    if limit == LIMIT:
        check_text(formatted(piece, "HTML", None)[0])
    assert_nesting(entities)
    return text, entities


def assert_nesting(entities: list[dict[str, Any]]) -> None:
    """Telegram's rules: nothing inside code/pre, no code in a link, no quote in a quote."""

    def contains(outer: dict[str, Any], inner: dict[str, Any]) -> bool:
        return bool(
            outer["offset"] <= inner["offset"]
            and inner["offset"] + inner["length"] <= outer["offset"] + outer["length"]
        )

    for a in entities:
        for b in entities:
            if a is b or not contains(a, b) or contains(b, a):
                continue
            assert a["type"] not in ("code", "pre"), (a, b)
            assert {a["type"], b["type"]} != {"text_link", "code"}, (a, b)
            assert not (a["type"] == b["type"] == "blockquote"), (a, b)


def squeezed(text: str) -> str:
    return "".join(text.split())


def long_answer() -> str:
    """About 15,000 characters the way a model writes them."""
    sentence = (
        "The `a < b && c` check runs first, so the **bold claim** holds and _nothing_ breaks. "
        "See [the docs](https://example.com/docs?a=1&b=2) for more! "
    )
    parts = ["# Overview", sentence * 8]
    parts += ["## Steps", "\n".join(f"{n}. Step {n}: do `x & y` then *check* it." for n in range(1, 31))]
    parts += ["- a bullet with **bold**\n  - a nested bullet\n- another one" for _ in range(5)]
    parts += [sentence * 6, "```python\n" + "\n".join(CODE_LINES) + "\n```"]
    parts += ["> A quote that *matters*.\n> Second line with `code`."]
    parts += [sentence * 5 for _ in range(6)]
    return "\n\n".join(parts)


def test_a_15000_character_answer_is_split_into_sendable_pieces() -> None:
    markdown = long_answer()
    assert 14_000 < len(markdown) < 17_000
    assert len("\n".join(CODE_LINES)) > 6_000

    pieces = split(markdown)

    assert len(pieces) >= 4
    shown = [sendable(piece) for piece in pieces]
    whole = plain(to_html(markdown))
    assert squeezed("".join(text for text, _ in shown)) == squeezed(whole)
    # every cut falls on a line or block boundary of the whole answer
    cursor = 0
    for text, _ in shown[:-1]:
        cursor = whole.index(text, cursor) + len(text)
        assert whole[cursor] == "\n", whole[cursor - 40 : cursor + 40]
    # the long code block became several code blocks, each of whole lines, with its language
    code = [
        (text[e["offset"] : e["offset"] + e["length"]], e)
        for text, entities in shown
        for e in entities
        if e["type"] == "pre"
    ]
    assert len(code) >= 2
    assert all(entity.get("language") == "python" for _, entity in code)
    assert "\n".join(block for block, _ in code).split("\n") == CODE_LINES
    links = [e for _, entities in shown for e in entities if e["type"] == "text_link"]
    assert links and all(e["url"] == "https://example.com/docs?a=1&b=2" for e in links)


def test_paragraphs_are_kept_whole_before_sentences_before_words() -> None:
    first, second = "First paragraph. " * 150, "Second paragraph. " * 150
    assert split(f"{first}\n\n{second}") == [first.strip(), second.strip()]

    pieces = split("Sentence number one is here. " * 250)
    texts = [sendable(piece)[0] for piece in pieces]
    assert len(texts) == 2
    assert texts[0].endswith("here.") and texts[1].startswith("Sentence")

    words = split("word " * 2000)
    assert all(text.endswith("word") for text in (sendable(piece)[0] for piece in words))


@pytest.mark.parametrize(
    ("markdown", "visible"),
    [
        ("**bold without end", "**bold without end"),
        ("_x", "_x"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("a < b && c > d", "a < b && c > d"),
        ("&amp; &lt;b&gt; &copy", "& <b> &copy"),
        ("</b> <i> </code> <pre", "</b> <i> </code> <pre"),
        ("2 * 3 = 6, *x* and __y_ `z", "2 * 3 = 6, x and _y `z"),
    ],
)
def test_unbalanced_markup_is_delivered_as_text(markdown: str, visible: str) -> None:
    pieces = split(markdown)

    assert len(pieces) == 1
    text, _ = sendable(pieces[0])
    assert visible in text


def test_an_unclosed_fence_runs_to_the_end_as_code() -> None:
    pieces = split("Look:\n\n```js\nif (a < b) { go(); }\n")

    text, entities = sendable(pieces[0])
    assert text == "Look:\n\nif (a < b) { go(); }"
    assert entities == [{"offset": 7, "length": 20, "type": "pre", "language": "js"}]


def test_astral_characters_count_as_two_units() -> None:
    markdown = "a" + "😀" * 3000

    pieces = split(markdown)

    texts = [sendable(piece)[0] for piece in pieces]
    assert [utf16_len(text) for text in texts] == [4095, 1906]
    assert "".join(texts) == markdown
    assert all("\ud83d" not in text for text in texts)  # no pair was cut in half


def test_a_single_10000_character_word_is_cut_hard() -> None:
    pieces = split("x" * 10_000)
    assert [len(sendable(piece)[0]) for piece in pieces] == [4096, 4096, 1808]

    escaped = split("&" * 10_000)  # five HTML characters each: the HTML budget cuts first
    assert all(len(piece) <= HTML_FACTOR * LIMIT for piece in escaped)
    assert "".join(sendable(piece)[0] for piece in escaped) == "&" * 10_000


def test_nested_lists_are_indented_lines() -> None:
    markdown = "- a\n  - b\n    - c\n- d\n\n3. x\n4. y\n   1. z **bold**\n"

    text, entities = sendable(to_html(markdown))

    assert text == "• a\n  • b\n    • c\n• d\n\n3. x\n4. y\n   1. z bold"
    assert [e["type"] for e in entities] == ["bold"]


def test_a_table_becomes_an_aligned_pre_block() -> None:
    markdown = "| Name | Qty |\n|---|---:|\n| apple | 3 |\n| kiwi & <lime> | 12 |\n"

    text, entities = sendable(to_html(markdown))

    assert entities == [{"offset": 0, "length": len(text), "type": "pre"}]
    assert text.split("\n") == [
        "Name          | Qty",
        "--------------+----",
        "apple         | 3",
        "kiwi & <lime> | 12",
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](vbscript:msgbox)",
        "[click](ftp://example.com/file)",
        "[click](/relative/path)",
        "![click](javascript:alert(1))",
    ],
)
def test_unsafe_links_become_plain_text(markdown: str) -> None:
    text, entities = sendable(to_html(markdown))

    assert "click" in text
    assert entities == []


def test_safe_links_code_headings_and_quotes_keep_their_format() -> None:
    markdown = "# Title\n\n[**site**](https://example.com/a_b) and `x<y`\n\n> quoted\n> > nested ~~gone~~"

    text, entities = sendable(to_html(markdown))

    assert text == "Title\n\nsite and x<y\n\nquoted\nnested gone"
    kinds = {e["type"] for e in entities}
    assert kinds == {"bold", "text_link", "code", "blockquote", "strikethrough"}
    assert [e for e in entities if e["type"] == "blockquote"] == [
        {"offset": text.index("quoted"), "length": len("quoted\nnested gone"), "type": "blockquote"}
    ]


def test_code_inside_a_link_loses_its_code_format() -> None:
    _, entities = sendable(to_html("[`run()`](https://example.com)"))
    assert [e["type"] for e in entities] == ["text_link"]


def test_empty_answers_give_no_pieces() -> None:
    assert split("") == []
    assert split(" \n\n \t") == []
    assert to_html("") == ""


def test_preview_closes_open_markup_and_truncates() -> None:
    assert preview("Hello **wor") == "Hello <b>wor</b>"
    assert preview("Run `pip inst") == "Run <code>pip inst</code>"
    assert preview("```py\nprint(1)\nfor") == '<pre><code class="language-py">print(1)\nfor</code></pre>'

    long = preview(long_answer())
    text, _ = sendable(long)
    assert long.endswith("…")
    assert utf16_len(text) == pytest.approx(LIMIT, abs=200)

    short = preview("**a** " * 100, limit=50)
    text, _ = sendable(short, limit=50)
    assert text.endswith("…")


FRAGMENTS = [
    "**", "*", "_", "__", "`", "```", "```py\n", "~~", "~~~\n", "<", ">", "&", "&amp;", "&#x1F600;",
    "[", "](", ")", "https://x.io/p?q=1&r=<2>", "javascript:", "\n", "\n\n", "- ", "1. ", "> ", "# ",
    "|", "---", "| a | b |\n|---|---|\n", " ", "   ", "\t", "word", "Слово", "😀", "👩‍💻", ".", "!", "?",
    "a_b_c", "<b>", "</i>", "<pre>", "\\", "    code\n", "Sentence one. ", "x" * 50,
]  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_random_markdownish_text_always_gives_valid_pieces(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        markdown = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 300)))
        whole = squeezed(plain(to_html(markdown)))
        for limit in (LIMIT, 120, 16):
            pieces = split(markdown, limit)
            texts = [sendable(piece, limit)[0] for piece in pieces]
            assert squeezed("".join(texts)) == whole, markdown
        if whole:
            sendable(preview(markdown, 120), 120)
