"""What Telegram does with a webhook's answer: execute the method in its body.

A webhook may answer with one Bot API call (``{"method": "sendMessage", ...}``); Telegram
performs it and reports nothing back. The local stack and the tests do the same against
whichever Bot API they point at, so a reply in the response is really delivered.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from genbot.observability import logger


def perform_webhook_reply(api_base: str, token: str, response: dict[str, Any]) -> dict[str, Any] | None:
    """Execute the method in a webhook response (if any); returns the Bot API's answer."""
    if response.get("statusCode") != 200:
        return None
    try:
        body = json.loads(response.get("body") or "{}")
    except ValueError:
        return None
    if not isinstance(body, dict) or "method" not in body:
        return None
    method = body.pop("method")
    request = urllib.request.Request(  # noqa: S310 (loopback or api.telegram.org)
        f"{api_base.rstrip('/')}/bot{token}/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        result = json.loads(exc.read() or b"{}")
        logger.warning("webhook reply rejected", extra={"method": method, "answer": result})
    return result
