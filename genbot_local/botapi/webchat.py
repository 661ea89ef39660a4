"""The web chat: a browser page where a person talks to the bot through the Bot API stand-in.

The page (``webchat/index.html`` + ``app.js`` + ``style.css``, no CDN, works offline) plays
the Telegram app: what the person types becomes a real update (``user_message``, photos via
``user_photo``, button presses via ``user_callback``, Pay via pre_checkout_query and
successful_payment) and what the bot sends is read back from the stand-in's chat state.

JSON endpoints (all under ``/webchat/api/``):

- ``GET  session``                      bot, simulated users, the bot's time zone
- ``POST users``     {first_name, language_code}            -> a new user
- ``GET  chat?user_id=&since=&wait=``   long poll: returns when the chat's version > since
                                        (messages, the live drafts, reply keyboard, action, toasts)
- ``POST send``      {user_id, text}
- ``POST photo``     multipart: user_id, file, caption, as_document
- ``POST callback``  {user_id, message_id, data}
- ``POST pay``       {user_id, message_id} or {user_id, link}
- ``GET  file/{file_id}``               the stored bytes of a photo/video/document
- ``GET  webapp?user_id=&scheme=``      the cabinet's launch URL for the chat's menu button:
                                        ``<webapp_url>#tgWebAppData=<initData signed with the
                                        bot's token>&tgWebAppVersion=&tgWebAppPlatform=web&
                                        tgWebAppThemeParams=<JSON>``, as Telegram opens a Mini App
                                        (404 when the stack serves no cabinet)
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from genbot_local.botapi.server import BotApiStandIn

STATIC = Path(__file__).parent / "webchat"
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_MEDIA_KINDS = ("photo", "video", "animation", "voice", "document")
WEBAPP_VERSION = "8.0"
# Telegram Web's theme parameters (light and dark), handed to the Mini App like Telegram does
THEMES: dict[str, dict[str, str]] = {
    "light": {
        "bg_color": "#ffffff",
        "text_color": "#000000",
        "hint_color": "#707579",
        "link_color": "#3390ec",
        "button_color": "#3390ec",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#f4f4f5",
        "header_bg_color": "#ffffff",
        "accent_text_color": "#3390ec",
        "section_bg_color": "#ffffff",
        "section_header_text_color": "#3390ec",
        "subtitle_text_color": "#707579",
        "destructive_text_color": "#e53935",
    },
    "dark": {
        "bg_color": "#212121",
        "text_color": "#ffffff",
        "hint_color": "#aaaaaa",
        "link_color": "#8774e1",
        "button_color": "#8774e1",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#181818",
        "header_bg_color": "#212121",
        "accent_text_color": "#8774e1",
        "section_bg_color": "#212121",
        "section_header_text_color": "#8774e1",
        "subtitle_text_color": "#aaaaaa",
        "destructive_text_color": "#ff595a",
    },
}


def webapp_launch_url(
    base_url: str, token: str, user: dict[str, Any], scheme: str = "light", *, auth_date: int | None = None
) -> str:
    """The URL Telegram opens a Mini App with: launch parameters in the fragment, ``initData``
    signed with the bot's token for ``user`` (``genbot_local.webapp.sign_init_data``)."""
    from urllib.parse import urlencode

    from genbot_local.webapp import sign_init_data

    params = {
        "tgWebAppData": sign_init_data(token, user, auth_date=auth_date),
        "tgWebAppVersion": WEBAPP_VERSION,
        "tgWebAppPlatform": "web",
        "tgWebAppThemeParams": json.dumps(THEMES.get(scheme, THEMES["light"]), separators=(",", ":")),
    }
    return f"{base_url}#{urlencode(params)}"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _fail(status: int, error: str) -> web.HTTPException:
    return (
        web.HTTPBadRequest(
            text=json.dumps({"error": error}, ensure_ascii=False), content_type="application/json"
        )
        if status == 400
        else web.HTTPNotFound(text=json.dumps({"error": error}), content_type="application/json")
    )


def _user_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _fail(400, "user_id must be a number") from None


def _media(standin: BotApiStandIn, message: dict[str, Any]) -> dict[str, Any] | None:
    for kind in _MEDIA_KINDS:
        obj = message.get(kind)
        if not obj:
            continue
        item = obj[-1] if kind == "photo" else obj
        stored = standin.files.get(item["file_id"])
        media: dict[str, Any] = {
            "kind": kind,
            "file_name": item.get("file_name"),
            "mime_type": item.get("mime_type") or (stored.mime_type if stored else None),
            "width": item.get("width"),
            "height": item.get("height"),
            "size": item.get("file_size"),
            "duration": item.get("duration"),
        }
        if stored is not None and stored.data is not None:
            media["url"] = f"/webchat/api/file/{item['file_id']}"
        elif stored is not None and stored.url:
            media["link"] = stored.url
        return media
    return None


def message_view(standin: BotApiStandIn, message: dict[str, Any]) -> dict[str, Any]:
    """A Bot API Message as the page draws it (text + entities are rendered, never raw HTML)."""
    out = message.get("from", {}).get("id") != standin.bot_id
    view: dict[str, Any] = {
        "id": message["message_id"],
        "out": out,
        "date": message.get("date"),
        "text": message.get("text", message.get("caption", "")),
        "entities": message.get("entities", message.get("caption_entities", [])),
        "edited": "edit_date" in message,
        "media": _media(standin, message),
        "inline_keyboard": (message.get("reply_markup") or {}).get("inline_keyboard"),
    }
    if "invoice" in message:
        view["invoice"] = message["invoice"]
    if "successful_payment" in message:
        view["payment"] = message["successful_payment"]
    reply = message.get("reply_to_message")
    if reply:
        view["reply_to"] = {
            "id": reply.get("message_id"),
            "text": (reply.get("text") or reply.get("caption") or "")[:80],
        }
    return view


def add_routes(app: web.Application, standin: BotApiStandIn) -> None:
    """Register the page and its JSON API on the stand-in's aiohttp app."""

    async def index(request: web.Request) -> web.Response:
        return await static(request, "index.html")

    async def static(request: web.Request, name: str | None = None) -> web.Response:
        name = name or request.match_info["name"]
        path = STATIC / name
        if "/" in name or path.suffix not in _CONTENT_TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            content_type=_CONTENT_TYPES[path.suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def session(request: web.Request) -> web.Response:
        return _json(
            {
                "bot": standin.bot_user,
                "timezone": standin.timezone,
                "webapp": bool(getattr(standin, "webapp_url", None)),
                "users": [
                    {"id": u.id, "first_name": u.first_name, "language_code": u.language_code}
                    for u in standin.users()
                ],
            }
        )

    async def create_user(request: web.Request) -> web.Response:
        body = await _body(request)
        name = str(body.get("first_name") or "").strip()[:64]
        if not name:
            raise _fail(400, "first_name is required")
        language = "en" if body.get("language_code") == "en" else "ru"
        user = standin.add_user(name, language)
        return _json({"id": user.id, "first_name": user.first_name, "language_code": user.language_code})

    async def chat(request: web.Request) -> web.Response:
        user_id = _user_id(request.query.get("user_id"))
        since = int(request.query.get("since") or -1)
        wait = min(float(request.query.get("wait") or 0), 30.0)
        await standin.wait_change(lambda: standin.chat_version(user_id) > since, wait)
        state = standin.chat_state(user_id)
        language = next((u.language_code for u in standin.users() if u.id == user_id), "")
        state["messages"] = [message_view(standin, m) for m in state["messages"]]
        state["commands"] = standin.commands(language)
        return _json(state)

    async def send(request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = _user_id(body.get("user_id"))
        text = str(body.get("text") or "")
        if not text.strip():
            raise _fail(400, "text is empty")
        user = _known_user(user_id)
        update = standin.user_message(
            user_id, text, first_name=user["first_name"], language_code=user["language_code"]
        )
        return _json({"update_id": update["update_id"]})

    async def photo(request: web.Request) -> web.Response:
        form = await request.post()
        user_id = _user_id(form.get("user_id"))
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise _fail(400, "file is required")
        data = upload.file.read()
        caption = str(form.get("caption") or "").strip() or None
        as_document = str(form.get("as_document") or "") in ("1", "true", "on")
        mime_type = upload.content_type or "application/octet-stream"
        # Scaling a big photo takes a moment: off the loop, so other chats and polls go on.
        send = functools.partial(
            standin.user_photo,
            user_id,
            data,
            caption=caption,
            as_document=as_document or not mime_type.startswith("image/"),
            mime_type=mime_type,
            file_name=upload.filename or "file",
        )
        update = await asyncio.get_running_loop().run_in_executor(None, send)
        return _json({"update_id": update["update_id"]})

    async def callback(request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = _user_id(body.get("user_id"))
        update = standin.user_callback(user_id, int(body.get("message_id") or 0), str(body.get("data") or ""))
        return _json({"update_id": update["update_id"], "callback_query_id": update["callback_query"]["id"]})

    async def pay(request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = _user_id(body.get("user_id"))
        link = body.get("link")
        invoice = standin.invoice(user_id, message_id=int(body.get("message_id") or 0), link=link or None)
        if invoice is None:
            raise _fail(404, "no such invoice")
        update = standin.start_payment(user_id, invoice)
        return _json({"update_id": update["update_id"]})

    async def file(request: web.Request) -> web.Response:
        stored = standin.files.get(request.match_info["file_id"])
        if stored is None or stored.data is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.mime_type)

    async def webapp(request: web.Request) -> web.Response:
        base_url = getattr(standin, "webapp_url", None)
        if not base_url:
            raise _fail(404, "no cabinet: the local stack serves it (genbot dev)")
        user_id = _user_id(request.query.get("user_id"))
        user = _known_user(user_id)
        signed_user = {
            "id": user_id,
            "first_name": user["first_name"],
            "language_code": user["language_code"],
            "allows_write_to_pm": True,
        }
        scheme = "dark" if request.query.get("scheme") == "dark" else "light"
        url = webapp_launch_url(str(base_url), standin.token, signed_user, scheme)
        return _json({"url": url, "scheme": scheme})

    def _known_user(user_id: int) -> dict[str, Any]:
        for user in standin.users():
            if user.id == user_id:
                return {"first_name": user.first_name, "language_code": user.language_code}
        raise _fail(404, "no such user")

    app.router.add_get("/", index)
    app.router.add_get("/webchat/", index)
    app.router.add_get("/webchat/api/session", session)
    app.router.add_post("/webchat/api/users", create_user)
    app.router.add_get("/webchat/api/chat", chat)
    app.router.add_post("/webchat/api/send", send)
    app.router.add_post("/webchat/api/photo", photo)
    app.router.add_post("/webchat/api/callback", callback)
    app.router.add_post("/webchat/api/pay", pay)
    app.router.add_get("/webchat/api/file/{file_id}", file)
    app.router.add_get("/webchat/api/webapp", webapp)
    app.router.add_get("/webchat/{name}", static)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _fail(400, "a JSON object is expected") from None
    if not isinstance(body, dict):
        raise _fail(400, "a JSON object is expected")
    return body
