"""The GraphQL-over-HTTP specification's rules the view applies (docs/http-security.md).

* Content negotiation: a client that accepts ``application/graphql-response+json``
  (and prefers it at least as much as ``application/json``) gets it; no ``Accept``,
  ``*/*`` or ``application/json`` get ``application/json``.
* Under ``application/graphql-response+json`` a *request error* (the document does not
  parse or validate, a variable cannot be coerced, a persisted document is unknown) is
  answered 400 without a ``data`` entry; under ``application/json`` it stays 200, as the
  specification says for legacy clients.
* Any other method than GET and POST is 405 with an ``Allow`` header, in the JSON error
  shape, like every refusal before GraphQL runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from orggraph.errors import MethodNotAllowedError, OrgGraphError
from orggraph.http_security import error_body

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"
ALLOWED_METHODS = ("GET", "POST")
# scope["state"] key: the view answered a request error (see ``is_request_error``).
REFUSED_KEY = "orggraph.request_error"


def _accepted(accept: str) -> dict[str, float]:
    """Media ranges of an Accept header with their q-values."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        fields = [field.strip() for field in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges[media] = max(quality, ranges.get(media, 0.0))
    return ranges


def response_media_type(accept: str | None) -> str:
    """The media type of the answer to a request with this Accept header."""
    ranges = _accepted(accept or "")
    wanted = ranges.get(GRAPHQL_RESPONSE_JSON, 0.0)
    legacy = max(ranges.get(LEGACY_JSON, 0.0), ranges.get("application/*", 0.0))
    legacy = max(legacy, ranges.get("*/*", 0.0))
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= legacy else LEGACY_JSON


def is_request_error(data: object, errors: Sequence[GraphQLError] | None) -> bool:
    """Whether GraphQL refused the request before executing it: no data, and no error
    tied to a field (execution errors carry a ``path``; request errors never do)."""
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


def error_as_graphql(error: OrgGraphError) -> GraphQLError:
    """One of our errors as a GraphQL request error (no path: nothing ran)."""
    return GraphQLError(error.message, extensions=error.extensions())


class OnlyGetAndPost:
    """405 METHOD_NOT_ALLOWED (JSON, with ``Allow``) for any other method on /graphql."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ALLOWED_METHODS:
            await self.app(scope, receive, send)
            return
        error = MethodNotAllowedError(
            f"/graphql answers GET and POST, not {scope['method']}", allowed=list(ALLOWED_METHODS)
        )
        media_type = response_media_type(Headers(scope=scope).get("accept"))
        response = JSONResponse(error_body(error), status_code=405, media_type=media_type)
        response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
        await response(scope, receive, send)
