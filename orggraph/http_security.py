"""The HTTP door against browsers and hostile bodies (docs/http-security.md).

* ``AllowedHosts``: a Host header the service does not answer is refused (400
  BAD_REQUEST), HTTP and WebSocket alike, so a page that rebinds its own name to
  127.0.0.1 (DNS rebinding) cannot read the loopback service. /healthz and
  /readyz answer any Host (probes address the service by IP; they reveal nothing).
* ``CsrfPrevention``: a request a browser may send cross-site without a CORS
  preflight is refused (400 CSRF_PREVENTED) unless it carries a non-empty
  ``GraphQL-Preflight``, ``Apollo-Require-Preflight`` or ``X-Apollo-Operation-Name``
  header. Apollo Server refuses the three "simple" content types and a missing
  one; here any Content-Type but JSON counts (Chromium has safelisted a fourth
  type; a blocklist trails the browsers).
* ``decode_json_object``: request bodies and WebSocket messages are one JSON
  object at most ``MAX_JSON_DEPTH`` deep; anything else is BAD_USER_INPUT.
* WebSocket ``error`` frames (both protocols) and the errors of ``next``/``data``
  frames always carry an ``extensions.code``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from starlette.datastructures import Headers, QueryParams
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from orggraph.context import Context
from orggraph.errors import BadRequestError, CsrfPreventedError, OrgGraphError
from orggraph.settings import Settings

MAX_JSON_DEPTH = 200  # as graphql-core's limit on documents and variable values
PREFLIGHT_HEADERS = ("graphql-preflight", "apollo-require-preflight", "x-apollo-operation-name")
# Probes and scrapers address the service by IP; these reveal nothing a page could use.
UNCHECKED_HOST_PATHS = ("/healthz", "/readyz", "/metrics")
# What a page of an ORGGRAPH_CORS_ORIGINS origin may send, and read of the answer.
CORS_REQUEST_HEADERS = (
    "Content-Type", "Accept", "Authorization", "X-API-Key", "X-Request-ID",
    *("GraphQL-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"),
    *("traceparent", "tracestate"),
)  # fmt: skip
CORS_MAX_AGE_S = 600
# What the GraphQL door answers when Strawberry refuses the HTTP request itself.
FALLBACK_CODE = "BAD_USER_INPUT"


def error_body(error: OrgGraphError) -> dict[str, Any]:
    """The GraphQL error shape, so every client parses one format."""
    return {"errors": [{"message": error.message, "extensions": error.extensions()}]}


# --- Host ---------------------------------------------------------------------------------


def host_of(header: str | None) -> str | None:
    """The host of a Host header, lowercase, without the port (IPv6 keeps its brackets)."""
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else None
    return value.split(":", 1)[0] or None


class AllowedHosts(TrustedHostMiddleware):
    """Starlette's TrustedHostMiddleware (same patterns: exact names, ``*.example.com``,
    ``*``), answering a refusal in the service's JSON error shape."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        super().__init__(app, allowed_hosts=allowed_hosts, www_redirect=False)

    def allows(self, host: str | None) -> bool:
        if self.allow_any:
            return True
        if host is None:
            return False
        return any(
            host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
            for pattern in self.allowed_hosts
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checked = scope["type"] in ("http", "websocket")
        if not checked or scope.get("path") in UNCHECKED_HOST_PATHS:
            await self.app(scope, receive, send)
            return
        host = host_of(Headers(scope=scope).get("host"))
        if self.allows(host):
            await self.app(scope, receive, send)
            return
        error = BadRequestError(
            f"this service does not answer the host {host!r}; its name must be in "
            "ORGGRAPH_ALLOWED_HOSTS",
            host=host,
        )
        # On a WebSocket upgrade Starlette sends this as the handshake's HTTP answer.
        await JSONResponse(error_body(error), status_code=400)(scope, receive, send)


# --- CORS ---------------------------------------------------------------------------------


def cors_middleware(settings: Settings) -> Middleware:
    """Starlette's CORSMiddleware for the ORGGRAPH_CORS_ORIGINS origins: GET and POST with
    the headers a GraphQL client sends; credentials (cookies, HTTP auth) only when
    ORGGRAPH_CORS_ALLOW_CREDENTIALS is set, never for ``*`` (refused by the settings)."""
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=list(CORS_REQUEST_HEADERS),
        allow_credentials=settings.cors_allow_credentials,
        expose_headers=["X-Request-ID"],
        max_age=CORS_MAX_AGE_S,
    )


# --- CSRF ---------------------------------------------------------------------------------


def is_preflighted(headers: Headers) -> bool:
    """Whether a browser must have asked the CORS preflight before sending this request:
    a non-empty preflight header, or a JSON Content-Type (a browser only sends text/plain,
    form and multipart bodies cross-site without asking)."""
    if any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return True
    essence = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def is_ide_page(scope: Scope) -> bool:
    """A GET of GraphiQL itself: no document, by text or by hash (persisted documents)."""
    params = QueryParams(scope["query_string"])
    return scope["method"] == "GET" and "query" not in params and "extensions" not in params


class CsrfPrevention:
    """Refuses (400 CSRF_PREVENTED) an operation a browser could send from any page.
    The GraphiQL page itself (a GET without a query) is served: it runs nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_ide_page(scope) or is_preflighted(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        error = CsrfPreventedError(
            "this request has been blocked as a potential cross-site request forgery: send "
            "it with `Content-Type: application/json`, or add a non-empty "
            "`GraphQL-Preflight: 1` header (Apollo-Require-Preflight and "
            "X-Apollo-Operation-Name are accepted too)",
            headers=["GraphQL-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"],
        )
        await JSONResponse(error_body(error), status_code=400)(scope, receive, send)


# --- JSON bodies --------------------------------------------------------------------------


class JsonBodyError(json.JSONDecodeError):
    """A body or message that is not one JSON object of bounded depth. A JSONDecodeError,
    so Strawberry's WebSocket transport treats it as a message that is not JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)
        self.msg = message


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_json_object(data: str | bytes, shape: str) -> dict[str, Any]:
    """One JSON object (``shape`` says which keys, for the message), else JsonBodyError."""
    try:
        value = json.loads(data)
    except RecursionError as error:
        raise JsonBodyError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels") from error
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise JsonBodyError(f"the body is not valid JSON: {error}") from error
    if _too_deep(value):
        raise JsonBodyError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels")
    if not isinstance(value, dict):
        raise JsonBodyError(f"a JSON object {shape} is expected (batches are not accepted)")
    return value


# --- WebSocket error frames ---------------------------------------------------------------


def _coded(error: object) -> object:
    if not isinstance(error, dict):
        return error
    extensions = error.get("extensions")
    extensions = dict(extensions) if isinstance(extensions, dict) else {}
    if extensions.get("code"):
        return error
    return {**error, "extensions": {**extensions, "code": FALLBACK_CODE}}


def with_error_codes(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` with an ``extensions.code`` on each error it carries: the schema's
    errors already have one; the transport's own ("Subscription limit reached", ...) not."""
    out = dict(message)
    payload = out.get("payload")
    if out.get("type") in ("error", "connection_error"):
        if isinstance(payload, list):
            out["payload"] = [_coded(error) for error in payload]
        elif isinstance(payload, dict):
            out["payload"] = _coded(payload)
    elif isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        out["payload"] = {**payload, "errors": [_coded(error) for error in payload["errors"]]}
    return out


class CodedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def send_message(self, message: Message) -> None:
        await super().send_message(cast(Message, with_error_codes(message)))


class CodedWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def send_message(self, message: OperationMessage) -> None:
        await super().send_message(cast(OperationMessage, with_error_codes(message)))
