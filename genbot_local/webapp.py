"""Mini App ``initData`` signed the way Telegram signs it, for the local stack and the tests.

Telegram hands a Mini App ``Telegram.WebApp.initData``: a query string of ``auth_date``,
``user`` (JSON), optionally ``query_id``, and ``hash`` = hex HMAC-SHA256 over the sorted
``key=value`` lines (without ``hash``) under the key ``HMAC_SHA256("WebAppData", bot_token)``.
The cabinet's API checks it with aiogram's ``safe_parse_webapp_init_data``; this module makes
it, so the local cabinet and the tests sign in as a simulated user with no Telegram.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

__all__ = ["sign_init_data"]


def sign_init_data(
    token: str, user: dict[str, Any], *, auth_date: int | None = None, query_id: str | None = None
) -> str:
    """``initData`` for ``user`` (at least ``id`` and ``first_name``), signed with the bot's
    ``token``; ``auth_date`` defaults to now (epoch seconds)."""
    fields: dict[str, str] = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
    }
    if query_id is not None:
        fields["query_id"] = query_id
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
