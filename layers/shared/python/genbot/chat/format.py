"""The model's Markdown as Telegram HTML, in pieces a message can hold.

The Markdown is read by markdown-it-py (CommonMark plus GFM tables and strikethrough) with
raw HTML off, so a stray ``*``, ``_`` or ``<`` is text, never markup. Its tree is flattened into
runs: visible text with the stack of tags around it. Telegram limits a message by its visible
text (UTF-16 code units after parsing), so long answers are cut on that text and each piece is
rendered on its own: tags open at a cut are closed before it and reopened after it, and
escaping happens only when rendering, so a cut never falls inside a tag or an ``&amp;``.

Entity nesting follows Telegram's rules: nothing inside code or pre, no code inside a link, no
blockquote inside a blockquote.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

LIMIT = 4096  # Telegram's message text limit, in UTF-16 code units of the visible text
HTML_FACTOR = 3  # a piece's raw HTML stays within this many times the limit
ELLIPSIS = "…"

Mark = tuple[str, str]  # (start tag, end tag)
Run = tuple[str, tuple[Mark, ...]]  # visible text and the tags around it, outermost first

BOLD: Mark = ("<b>", "</b>")
CODE: Mark = ("<code>", "</code>")
QUOTE: Mark = ("<blockquote>", "</blockquote>")
PRE: Mark = ("<pre>", "</pre>")
_EMPHASIS: dict[str, Mark] = {"strong": BOLD, "em": ("<i>", "</i>"), "s": ("<s>", "</s>")}
_SAFE_SCHEMES = frozenset({"http", "https", "tg", "mailto"})
_URL_MAX = 2048
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
_SENTENCE_ENDS = ".!?…"
_CLOSERS = "\"')]»”’"
_RULE = "———"
_MIN_FILL = 1 / 3  # a better kind of cut wins only if the piece is at least this full
_FENCE_LINE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)
_CODE_SPAN = re.compile(r"`[^`]*`")
_TAG = re.compile(r"<[^>]*>")
_ESCAPED_LEN = {"&": len("&amp;"), "<": len("&lt;"), ">": len("&gt;")}

_parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def to_html(markdown: str) -> str:
    """The whole answer as Telegram HTML, however long (``split`` makes it sendable)."""
    flat = _Flat(_runs(markdown))
    start = flat.skip(0)
    return flat.render(start, flat.rstrip(start, len(flat.text)))


def split(markdown: str, limit: int = LIMIT) -> list[str]:
    """Telegram HTML pieces, each balanced and within ``limit`` UTF-16 units of visible text.

    Cuts fall between blocks first, then lines, sentences, words, and anywhere as a last
    resort; an empty answer gives no pieces.
    """
    flat = _Flat(_runs(markdown))
    budget = HTML_FACTOR * limit
    pieces = []
    start = flat.skip(0)
    while start < len(flat.text):
        end = flat.reach(start, limit, budget)
        cut = end if end >= len(flat.text) else flat.cut(start, end)
        stop = flat.rstrip(start, cut)
        if stop > start:
            pieces.append(flat.render(start, stop))
        start = flat.skip(cut)
    return pieces


def plain(piece: str) -> str:
    """The visible text of a piece: what to send when Telegram rejects its entities anyway."""
    return html.unescape(_TAG.sub("", piece))


def preview(markdown_so_far: str, limit: int = LIMIT) -> str:
    """Safe HTML of a partial answer while it streams, cut to ``limit`` with an ellipsis.

    An open code fence is closed by the parser; a trailing ``**``, ``~~`` or backtick that is
    still open is closed here, so the text doesn't flicker between markup and formatting.
    """
    flat = _Flat(_runs(_close_open_markup(markdown_so_far)))
    budget = HTML_FACTOR * limit
    n = len(flat.text)
    start = flat.skip(0)
    if flat.reach(start, limit, budget) >= n:
        return flat.render(start, flat.rstrip(start, n))
    end = flat.reach(start, limit - utf16_len(ELLIPSIS), budget - len(ELLIPSIS))
    floor = start + int((end - start) * (1 - _MIN_FILL))
    cut = next((p for p in range(end, floor, -1) if flat.text[p].isspace()), end)
    return flat.render(start, flat.rstrip(start, cut)) + ELLIPSIS


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _close_open_markup(markdown: str) -> str:
    if len(_FENCE_LINE.findall(markdown)) % 2:
        return markdown  # inside a code block: the parser ends it at the end of the text
    markdown = markdown.rstrip()
    tail = markdown[markdown.rfind("\n\n") + 1 :]
    if tail.count("`") % 2:
        return markdown + "`"
    outside = _CODE_SPAN.sub("", tail)
    unclosed = sorted((outside.rfind(mark), mark) for mark in ("**", "~~") if outside.count(mark) % 2)
    return markdown + "".join(mark for _, mark in reversed(unclosed))


# Markdown tree -> runs


def _runs(markdown: str) -> list[Run]:
    tree = SyntaxTreeNode(_parser.parse(markdown))
    return [(text, marks) for text, marks in _blocks(tree.children, "\n\n") if text]


def _blocks(nodes: list[SyntaxTreeNode], separator: str) -> list[Run]:
    runs: list[Run] = []
    for node in nodes:
        part = _block(node)
        if part:
            if runs:
                runs.append((separator, ()))
            runs.extend(part)
    return runs


def _block(node: SyntaxTreeNode) -> list[Run]:
    kind = node.type
    if kind in ("paragraph", "heading"):
        runs: list[Run] = []
        for child in node.children:
            _inline(child, (BOLD,) if kind == "heading" else (), runs)
        return runs
    if kind in ("fence", "code_block"):
        return _code(node)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        inner = _blocks(node.children, "\n")
        return [(text, marks if QUOTE in marks else (QUOTE, *marks)) for text, marks in inner]
    if kind == "table":
        return _table(node)
    if kind == "hr":
        return [(_RULE, ())]
    return [(node.content, ())]  # raw HTML is off; anything else shows as its text


def _inline(node: SyntaxTreeNode, marks: tuple[Mark, ...], runs: list[Run]) -> None:
    in_link = any(start.startswith("<a ") for start, _ in marks)
    for child in node.children:
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            runs.append(("\n", marks))
        elif kind == "code_inline":
            runs.append((child.content, marks if in_link else (*marks, CODE)))
        elif kind in _EMPHASIS:
            _inline(child, (*marks, _EMPHASIS[kind]), runs)
        elif kind == "link":
            link = None if in_link else _link(str(child.attrs.get("href", "")))
            _inline(child, marks if link is None else (*marks, link), runs)
        elif kind == "image":
            link = None if in_link else _link(str(child.attrs.get("src", "")))
            alt = _text_of(child)
            runs.append((alt or "image", (*marks, link)) if link else (alt, marks))
        elif child.children:
            _inline(child, marks, runs)
        else:
            runs.append((child.content, marks))


def _link(url: str) -> Mark | None:
    """An ``<a>`` for a URL Telegram opens safely; None keeps the link's text as plain text."""
    if not url or len(url) > _URL_MAX:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _SAFE_SCHEMES or (scheme in ("http", "https") and not parts.netloc):
        return None
    return (f'<a href="{html.escape(url)}">', "</a>")


def _code(node: SyntaxTreeNode) -> list[Run]:
    text = node.content.rstrip("\n")
    if not text.strip():
        return []
    words = node.info.split() if node.type == "fence" else []
    language = words[0] if words and _LANGUAGE.fullmatch(words[0]) else ""
    mark = (f'<pre><code class="language-{language}">', "</code></pre>") if language else PRE
    return [(text, (mark,))]


def _list(node: SyntaxTreeNode) -> list[Run]:
    ordered = node.type == "ordered_list"
    first = int(node.attrs.get("start", 1)) if ordered else 1
    runs: list[Run] = []
    for number, item in enumerate(node.children, first):
        marker = f"{number}. " if ordered else "• "
        if runs:
            runs.append(("\n", ()))
        runs.append((marker, ()))
        pad = "\n" + " " * len(marker)
        for text, marks in _blocks(item.children, "\n"):
            runs.append((text if _is_pre(marks) else text.replace("\n", pad), marks))
    return runs


def _table(node: SyntaxTreeNode) -> list[Run]:
    """A table as aligned columns in a <pre> block: Telegram has no tables."""
    sections = node.children  # head and body
    rows = [[_text_of(cell).strip() for cell in row.children] for part in sections for row in part.children]
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = [" | ".join(map(str.ljust, row, widths)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return [("\n".join(lines), (PRE,))]


def _text_of(node: SyntaxTreeNode) -> str:
    parts = []
    for child in node.children:
        if child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            parts.append(_text_of(child))
        else:
            parts.append(child.content)
    return "".join(parts)


def _is_pre(marks: tuple[Mark, ...]) -> bool:
    return bool(marks) and marks[-1][0].startswith("<pre")


# Runs -> pieces


class _Flat:
    """The visible text of all runs, with each character's run, for measuring and cutting."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        self.text = "".join(text for text, _ in runs)
        self.starts: list[int] = []
        self.run_of: list[int] = []
        for index, (text, _) in enumerate(runs):
            self.starts.append(len(self.run_of))
            self.run_of.extend([index] * len(text))
        self.tag_cost = [sum(len(start) + len(end) for start, end in marks) for _, marks in runs]

    def marks_at(self, pos: int) -> tuple[Mark, ...]:
        return self.runs[self.run_of[pos]][1]

    def skip(self, pos: int) -> int:
        """Past the whitespace at a cut, keeping a code line's indentation."""
        text = self.text
        while pos < len(text) and text[pos].isspace():
            if text[pos] != "\n" and _is_pre(self.marks_at(pos)):
                break
            pos += 1
        return pos

    def rstrip(self, start: int, stop: int) -> int:
        while stop > start and self.text[stop - 1].isspace():
            stop -= 1
        return stop

    def reach(self, start: int, limit: int, budget: int) -> int:
        """The furthest end whose visible text fits ``limit`` and whose HTML fits ``budget``.

        The HTML is overestimated (every run's tags counted whole), never under; at least one
        character is always taken so that splitting moves on.
        """
        visible = cost = 0
        previous = -1
        pos = start
        while pos < len(self.text):
            char, run = self.text[pos], self.run_of[pos]
            width = 2 if ord(char) > 0xFFFF else 1
            extra = _ESCAPED_LEN.get(char, 1) + (self.tag_cost[run] if run != previous else 0)
            if pos > start and (visible + width > limit or cost + extra > budget):
                break
            visible, cost, previous = visible + width, cost + extra, run
            pos += 1
        return pos

    def cut(self, start: int, end: int) -> int:
        """Where to end a piece that must end by ``end``: the best kind of cut that fills it enough."""
        last: dict[int, int] = {}
        for pos in range(end, start, -1):
            level = self._level(start, pos)
            last.setdefault(level, pos)
            if level == 4:
                break
        floor = start + (end - start) * _MIN_FILL
        for level in (4, 3, 2, 1):
            if level in last and last[level] >= floor:
                return last[level]
        found = [level for level in last if level > 0]
        return last[max(found)] if found else end

    def _level(self, start: int, pos: int) -> int:
        """How good a cut before ``pos`` is: 4 between blocks, 3 lines, 2 sentences, 1 words, 0 none."""
        text = self.text
        char = text[pos]
        if not char.isspace():
            return 0
        pre = _is_pre(self.marks_at(pos))
        if char == "\n":
            return 4 if not pre and text[pos + 1 : pos + 2] == "\n" else 3
        back = pos - 1
        while back > start and text[back] in _CLOSERS:
            back -= 1
        return 2 if not pre and text[back] in _SENTENCE_ENDS else 1

    def render(self, start: int, stop: int) -> str:
        """The HTML of the visible text between two positions, every tag balanced."""
        out: list[str] = []
        opened: tuple[Mark, ...] = ()
        first = bisect_right(self.starts, start) - 1 if start < stop else len(self.runs)
        for index in range(max(first, 0), len(self.runs)):
            run_start = self.starts[index]
            if run_start >= stop:
                break
            text, marks = self.runs[index]
            piece = text[max(start - run_start, 0) : stop - run_start]
            keep = 0
            while keep < min(len(opened), len(marks)) and opened[keep] == marks[keep]:
                keep += 1
            out.extend(end for _, end in reversed(opened[keep:]))
            out.extend(begin for begin, _ in marks[keep:])
            out.append(html.escape(piece, quote=False))
            opened = marks
        out.extend(end for _, end in reversed(opened))
        return "".join(out)
