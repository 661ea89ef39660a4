"""Opaque page cursors that can't be forged or replayed by another user.

A cursor is ``base64url(JSON of the last key) "." base64url(HMAC)``; the HMAC covers the list's
name, the user's id and the JSON, under a key derived from the bot token with a label (no
secret of its own to provision; rotating the token only invalidates open cursors: the site
starts the list again). The user's id is never in the cursor: the query's partition key is
always the caller's, so even a valid cursor can only move within the caller's own items.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from genbot.cabinet.errors import InvalidRequestError
from genbot.i18n import N_

LABEL = b"genbot cabinet cursor v1"
MAC_BYTES = 16
MAX_CHARS = 512
BAD_CURSOR = N_("This list can't be continued from there. Please reload it.")


def _key(bot_token: str) -> bytes:
    return hmac.new(bot_token.encode(), LABEL, hashlib.sha256).digest()


def _mac(bot_token: str, scope: str, user_id: int, payload: bytes) -> bytes:
    message = f"{scope}:{user_id}:".encode() + payload
    return hmac.new(_key(bot_token), message, hashlib.sha256).digest()[:MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(bot_token: str, scope: str, user_id: int, key: dict[str, Any]) -> str:
    """The cursor for ``key`` (plain JSON values) in the list ``scope`` of ``user_id``."""
    payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(bot_token, scope, user_id, payload))}"


def decode(bot_token: str, scope: str, user_id: int, cursor: str, fields: dict[str, type]) -> dict[str, Any]:
    """The key in ``cursor``, each of ``fields`` present with its type; InvalidRequestError if
    it is malformed, forged, another user's or another list's."""
    try:
        if len(cursor) > MAX_CHARS:
            raise ValueError("too long")
        head, _, tail = cursor.partition(".")
        payload, mac = _unb64(head), _unb64(tail)
        if not hmac.compare_digest(mac, _mac(bot_token, scope, user_id, payload)):
            raise ValueError("bad signature")
        key = json.loads(payload)
        if not isinstance(key, dict) or set(key) != set(fields):
            raise ValueError("bad shape")
        for name, kind in fields.items():
            value = key[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"bad {name}")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError(BAD_CURSOR) from None
    return key
