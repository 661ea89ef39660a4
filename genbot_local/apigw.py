"""API Gateway HTTP API (payload format 2.0) on this machine.

``build_event`` makes the event API Gateway hands a Lambda integration for a request;
``to_http`` turns the function's answer back into status, headers and body the way API
Gateway does (including its inference when a handler returns a bare dict or string).
``FrontDoor`` is a small HTTP server that routes real requests to every route declared in
``genbot.resources.FUNCTIONS[...].http_routes``, plus a few ``/local/...`` endpoints of the
local stack itself (schedule triggers, health), and, when given a ``StaticSite``, the cabinet's
static files (``site/`` at ``/app/``, with a generated ``config.json``), as CloudFront serves
them in AWS.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from genbot.resources import FUNCTIONS, FunctionSpec

API_ID = "local000001"
ACCOUNT_ID = "000000000000"
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "+json",
    "+xml",
)


@dataclass(frozen=True)
class Route:
    """One ``METHOD /path`` route key of the HTTP API, bound to a function."""

    function: str
    method: str  # "ANY" matches every method
    path: str  # may hold {param} and a trailing {proxy+}; "$default" matches everything

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves ``method path``, else None."""
        if self.path == "$default":
            return {}
        if self.method not in ("ANY", method.upper()):
            return None
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                pattern += f"(?P<{_group(part[1:-2])}>.+)"
            elif part.startswith("{") and part.endswith("}"):
                pattern += f"(?P<{_group(part[1:-1])}>[^/]+)"
            else:
                pattern += re.escape(part)
        found = re.fullmatch(pattern, path)
        if found is None:
            return None
        names = _param_names(self.path)
        return {names[key]: unquote(value) for key, value in found.groupdict().items()}

    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers the most specific route: literal paths over parameters over greedy."""
        if self.path == "$default":
            return (0, 0, 0)
        greedy = "+}" in self.path
        params = self.path.count("{")
        return (0 if greedy else 1, -params, len(self.path))


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _param_names(path: str) -> dict[str, str]:
    names = {}
    for raw in re.findall(r"\{([^}]+)\}", path):
        name = raw[:-1] if raw.endswith("+") else raw
        names[_group(name)] = name
    return names


def routes(functions: Mapping[str, FunctionSpec] | None = None) -> list[Route]:
    """Every HTTP route of the app, most specific first."""
    found = [
        Route(spec.name, method.upper(), path)
        for spec in (functions or FUNCTIONS).values()
        for method, path in spec.http_routes
    ]
    return sorted(found, key=Route.specificity, reverse=True)


def find_route(method: str, path: str, table: Iterable[Route]) -> tuple[Route, dict[str, str]] | None:
    for route in table:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return not kind or any(t in kind if t.startswith("+") else kind.startswith(t) for t in TEXT_TYPES)


def build_event(
    route: Route | str,
    *,
    method: str | None = None,
    path: str | None = None,
    query: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    host: str | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event API Gateway sends a Lambda integration for this request.

    ``route`` is a Route or a route key such as ``"POST /telegram"``. Headers are
    lower-cased and repeated ones comma-joined, cookies move to ``cookies``, query
    parameters are comma-joined like API Gateway does, a binary body is base64-encoded.
    """
    if isinstance(route, str):
        verb, _, route_path = route.partition(" ")
        route = Route("", verb, route_path or "$default")
    method = (method or (route.method if route.method != "ANY" else "GET")).upper()
    path = path or route.path
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    domain = host or merged.get("host") or f"{API_ID}.execute-api.us-east-1.amazonaws.com"
    merged.setdefault("host", domain)
    raw_body = body.encode() if isinstance(body, str) else body
    if raw_body is not None:
        merged.setdefault("content-length", str(len(raw_body)))
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode().rstrip("="),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if raw_body is not None:
        if _is_text(merged.get("content-type", "")):
            try:
                event["body"] = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(raw_body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw_body).decode(), True
    return event


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_http(result: Any) -> HttpResponse:
    """What API Gateway (payload 2.0) sends the client for a handler's return value.

    A dict with ``statusCode`` is taken as is (``cookies`` become Set-Cookie headers,
    ``isBase64Encoded`` bodies are decoded); anything else is inferred: status 200,
    ``application/json``, the value serialised as the body.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode())
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(v)) for v in values]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body")
    if raw is None:
        payload = b""
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(raw)
    else:
        payload = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    if payload and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(int(result["statusCode"]), headers, payload)


SITE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}
# What CloudFront's policy allows (infra/site.py ``csp``), for this machine: scripts from the site
# only (the stand-in of telegram-web-app.js is served here), media from the local S3 (http), and
# framed by the local web chat (another port of this host).
LOCAL_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' http: https: data: blob:",
        "media-src 'self' http: https: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*",
    )
)


@dataclass
class StaticSite:
    """Static files under ``prefix`` (``/app/``): ``root``'s files, plus ``generated`` bodies
    (``config.json``) and ``extra`` files from elsewhere (the telegram-web-app.js stand-in)."""

    root: Path
    prefix: str = "/app/"
    generated: dict[str, bytes] = field(default_factory=dict)
    extra: dict[str, Path] = field(default_factory=dict)
    csp: str = LOCAL_CSP

    def handles(self, path: str) -> bool:
        return path == self.prefix.rstrip("/") or path.startswith(self.prefix)

    def serve(self, method: str, path: str) -> HttpResponse:
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"")
        if path == self.prefix.rstrip("/"):
            return HttpResponse(301, [("Location", self.prefix)], b"")
        name = unquote(path[len(self.prefix) :]) or "index.html"
        body = self._body(name)
        if body is None:
            return HttpResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"not found")
        suffix = Path(name).suffix.lower()
        kind = SITE_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = [
            ("Content-Type", kind),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
        if suffix == ".html":
            headers.append(("Content-Security-Policy", self.csp))
        return HttpResponse(200, headers, body)

    def _body(self, name: str) -> bytes | None:
        if name in self.generated:
            return self.generated[name]
        if name in self.extra:
            return self.extra[name].read_bytes() if self.extra[name].is_file() else None
        root = self.root.resolve()
        path = (root / name).resolve()
        if root not in path.parents or not path.is_file() or any(p.startswith(".") for p in Path(name).parts):
            return None
        return path.read_bytes()


Invoker = Callable[[str, dict[str, Any]], Any]
LocalRoute = Callable[[str, str, bytes], tuple[int, dict[str, Any]]]


def api_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()
    )


class FrontDoor:
    """The HTTP API on ``host:port``: a request -> its route's function -> the HTTP answer.

    ``invoke(function, event)`` runs the function (the stack passes its logging invoker);
    ``local`` handles ``/local/<rest>`` requests (the stack's own controls).
    """

    def __init__(
        self,
        invoke: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        route_table: Iterable[Route] | None = None,
        local: LocalRoute | None = None,
        site: StaticSite | None = None,
    ) -> None:
        self.invoke = invoke
        self.routes = list(route_table) if route_table is not None else routes()
        self.local = local
        self.site = site
        door = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "genbot-local-apigw"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = door.handle(
                    self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                )
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per invocation comes from the stack's log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str = ""
    ) -> HttpResponse:
        parts = urlsplit(target)
        path = parts.path or "/"
        if path.startswith("/local/") and self.local is not None:
            status, payload = self.local(method.upper(), path[len("/local/") :], body)
            return HttpResponse(
                status,
                [("Content-Type", "application/json")],
                json.dumps(payload, ensure_ascii=False).encode(),
            )
        if self.site is not None and self.site.handles(path):
            return self.site.serve(method.upper(), path)
        found = find_route(method, path, self.routes)
        if found is None:
            return api_error(404, "Not Found")
        route, params = found
        event = build_event(
            route,
            method=method,
            path=path,
            query=parts.query,
            headers=headers,
            body=body if body or method.upper() not in ("GET", "HEAD") else None,
            path_parameters=params,
            source_ip=source_ip or "127.0.0.1",
        )
        try:
            result = self.invoke(route.function, event)
        except Exception:
            return api_error(500, "Internal Server Error")
        try:
            return to_http(result)
        except (TypeError, ValueError):
            return api_error(500, "Internal Server Error")

    def start(self) -> FrontDoor:
        self._thread = threading.Thread(target=self._server.serve_forever, name="apigw", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
