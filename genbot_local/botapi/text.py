"""Telegram's text rules for the Bot API stand-in: HTML parse_mode, entities, trimming, limits.

The real server parses ``parse_mode=HTML`` into plain text plus MessageEntity objects and
rejects malformed markup with "can't parse entities: ...". The bot under test must survive
exactly that, so the parser here follows Telegram's (tdlib's ``parse_html``): the same tags,
the same four named character references, and error texts of the same form. Offsets and
lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
SUPPORTED_TAGS = frozenset({*_SIMPLE_TAGS, "a", "code", "pre", "span", "blockquote", "tg-emoji"})
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[^\s>]*")  # as tdlib: up to a space or ">"
_ATTR_NAME = re.compile(r"[A-Za-z0-9_-]*")


class BadRequest(Exception):
    """A 400 answer; ``str(exc)`` is the description after "Bad Request: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Bot API offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    name: str
    offset: int  # UTF-16 offset in the output text
    attrs: dict[str, str]
    sequence: int  # opening order: the outer of two same-range entities comes first


def _decode_ref(source: str, pos: int) -> tuple[str, int] | None:
    """``&name;`` / ``&#N;`` / ``&#xH;`` at ``pos`` -> (text, new_pos); None leaves '&' literal."""
    end = source.find(";", pos + 1, pos + 12)
    if end == -1:
        return None
    body = source[pos + 1 : end]
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            return chr(code), end + 1
        except (ValueError, OverflowError):
            return None
    if body in _NAMED_REFS:
        return _NAMED_REFS[body], end + 1
    return None


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&" and (decoded := _decode_ref(value, i)) is not None:
            out.append(decoded[0])
            i = decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _byte_offset(source: str, pos: int) -> int:
    return len(source[:pos].encode("utf-8"))


def _fail(message: str) -> BadRequest:
    return BadRequest(f"can't parse entities: {message}")


def _read_attrs(source: str, pos: int, tag_start: int) -> tuple[dict[str, str], int]:
    """Attributes up to the closing '>' of a start tag; returns them and the position after '>'."""
    attrs: dict[str, str] = {}
    n = len(source)
    while True:
        while pos < n and source[pos].isspace():
            pos += 1
        if pos >= n:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}")
        if source[pos] == ">":
            return attrs, pos + 1
        match = _ATTR_NAME.match(source, pos)
        name = match.group(0).lower() if match else ""
        if not name:
            raise _fail(f"Empty attribute name in the tag at byte offset {_byte_offset(source, tag_start)}")
        pos = match.end() if match else pos
        while pos < n and source[pos].isspace():
            pos += 1
        if pos < n and source[pos] != "=":
            attrs[name] = ""  # a bare attribute, e.g. <blockquote expandable>
            continue
        if pos >= n:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}")
        pos += 1
        while pos < n and source[pos].isspace():
            pos += 1
        if pos >= n:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}")
        quote = source[pos]
        if quote in "\"'":
            end = source.find(quote, pos + 1)
            if end == -1:
                raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}")
            value, pos = source[pos + 1 : end], end + 1
        else:
            end = pos
            while end < n and not source[end].isspace() and source[end] != ">":
                end += 1
            value, pos = source[pos:end], end
        attrs[name] = _unescape(value)


def _entity_for(tag: _Open, offset: int, length: int) -> dict[str, Any] | None:
    name, attrs = tag.name, tag.attrs
    entity: dict[str, Any] = {"offset": tag.offset, "length": length}
    if name in _SIMPLE_TAGS or name == "span":
        entity["type"] = _SIMPLE_TAGS.get(name, "spoiler")
    elif name == "a":
        url = attrs.get("href", "")
        if not url:
            return None
        entity.update(type="text_link", url=url)
    elif name == "code":
        entity["type"] = "code"
    elif name == "pre":
        entity["type"] = "pre"
        if attrs.get("language"):
            entity["language"] = attrs["language"]
    elif name == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif name == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs.get("emoji-id", ""))
    return entity if length > 0 else None


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse_mode: (plain text, entities) or BadRequest("can't parse entities: ...")."""
    out: list[str] = []
    out_len = 0  # UTF-16 length of the text so far
    stack: list[_Open] = []
    entities: list[tuple[int, dict[str, Any]]] = []
    opened = 0
    pos, n = 0, len(source)
    while pos < n:
        char = source[pos]
        if char == "&" and (decoded := _decode_ref(source, pos)) is not None:
            out.append(decoded[0])
            out_len += utf16_len(decoded[0])
            pos = decoded[1]
            continue
        if char != "<":
            out.append(char)
            out_len += 2 if ord(char) > 0xFFFF else 1
            pos += 1
            continue
        tag_start = pos
        if source.startswith("</", pos):
            end = source.find(">", pos)
            if end == -1:
                raise _fail(f"Unclosed end tag at byte offset {_byte_offset(source, tag_start)}")
            name = source[pos + 2 : end].strip().lower()
            if not stack:
                raise _fail(f"Unexpected end tag at byte offset {_byte_offset(source, tag_start)}")
            top = stack[-1]
            if name != top.name:
                found = source[tag_start : end + 1]
                raise _fail(
                    f"Unmatched end tag at byte offset {_byte_offset(source, tag_start)}, "
                    f'expected "</{top.name}>", found "{found}"'
                )
            stack.pop()
            pos = end + 1
            parent = stack[-1] if stack else None
            if (
                top.name == "code"
                and parent is not None
                and parent.name == "pre"
                and parent.offset == top.offset
                and top.attrs.get("class", "").startswith("language-")
            ):
                parent.attrs["language"] = top.attrs["class"][len("language-") :]
                continue  # <pre><code class="language-x"> is one pre entity with a language
            entity = _entity_for(top, out_len, out_len - top.offset)
            if entity is not None:
                entities.append((top.sequence, entity))
            continue
        match = _TAG_NAME.match(source, pos + 1)
        name = match.group(0).lower() if match else ""
        if match is None or match.end() >= n:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}")
        if name not in SUPPORTED_TAGS:
            raise _fail(f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, tag_start)}')
        attrs, pos = _read_attrs(source, pos + 1 + len(name), tag_start)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _fail('Tag "span" must have class "tg-spoiler"')
        opened += 1
        stack.append(_Open(name, out_len, attrs, opened))
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda item: (item[1]["offset"], -item[1]["length"], item[0]))
    return "".join(out), [entity for _, entity in entities]


def _unescape_markdown_v2(source: str) -> str:
    return re.sub(r"\\(.)", r"\1", source)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as Telegram does, moving and clipping the entities."""
    stripped_left = text.lstrip()
    cut = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    total = utf16_len(result)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - cut, 0)
        end = min(entity["offset"] + entity["length"] - cut, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept


def formatted(
    text: Any, parse_mode: Any, entities: Any, *, what: str = "text"
) -> tuple[str, list[dict[str, Any]]]:
    """The text a message shows, and its entities, from a send/edit call's parameters."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        text = str(text)
    if entities:
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise BadRequest("can't parse entities JSON object")
        plain, found = text, [dict(e) for e in entities]
        total = utf16_len(plain)
        for entity in found:
            offset, length = entity.get("offset"), entity.get("length")
            if not isinstance(offset, int) or not isinstance(length, int) or "type" not in entity:
                raise BadRequest("can't parse entities JSON object")
            if offset < 0 or length <= 0 or offset + length > total:
                raise BadRequest("can't parse entities: entity beyond the end of the text")
    elif parse_mode in (None, ""):
        plain, found = text, []
    elif str(parse_mode).lower() == "html":
        plain, found = parse_html(text)
    elif str(parse_mode).lower() in ("markdownv2", "markdown"):
        plain, found = _unescape_markdown_v2(text), []  # shown as text; HTML is what genbot uses
    else:
        raise BadRequest("unsupported parse_mode")
    return _trim(plain, found)


def check_text(text: str) -> None:
    if not text:
        raise BadRequest("message text is empty")
    if utf16_len(text) > TEXT_LIMIT:
        raise BadRequest("message is too long")


def check_caption(caption: str) -> None:
    if utf16_len(caption) > CAPTION_LIMIT:
        raise BadRequest("message caption is too long")


def _decoded(value: Any, error: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise BadRequest(error) from None
    return value


def check_reply_markup(value: Any) -> dict[str, Any] | None:
    """Validate a reply_markup (object or JSON string) as Telegram does; returns the object."""
    if value in (None, ""):
        return None
    markup = _decoded(value, "can't parse reply keyboard markup JSON object")
    if not isinstance(markup, dict):
        raise BadRequest("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BadRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        for row in rows:
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BadRequest('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        for row in rows:
            for button in row:
                label = button if isinstance(button, str) else (button or {}).get("text")
                if not isinstance(label, str) or not label:
                    raise BadRequest("keyboard button text is empty")
    elif not ({"remove_keyboard", "force_reply"} & markup.keys()):
        raise BadRequest("can't parse reply keyboard markup JSON object")
    return markup


_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise BadRequest("can't parse inline keyboard button: Text must be a String")
    if not any(key in button for key in _BUTTON_ACTIONS):
        raise BadRequest(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise BadRequest("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not re.match(r"(https?|tg)://\S+$", url):
            raise BadRequest("BUTTON_URL_INVALID")


def decode_json_param(value: Any, name: str) -> Any:
    """A nested parameter given as a JSON string (form/multipart) or as an object (JSON body)."""
    return _decoded(value, f"can't parse {name} JSON object")
