"""The Segment HTTP Tracking API: ``POST /v1/batch``, ``/v1/track``, ``/v1/page``,
``/v1/screen``, ``/v1/identify``, ``/v1/alias`` (docs/tracking.md).

A request is authenticated as Segment's: HTTP Basic with the source's write key as
the user name and an empty password, or ``writeKey`` in the body (what analytics.js
sends, as a CORS-simple ``text/plain`` request). Its events are validated one by one
(``graph.tracking.map_batch``): the good ones are written in one transaction
(``graph.tracking.write_tracked``), the bad ones reported by index, field and code.
After the commit, ``touchpointAdded`` is published for the touchpoints the write changed
(new ones, and re-sent ones whose content changed), from the states the write computed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orggraph.errors import (
    BadInputError,
    DatabaseUnavailableError,
    OrgGraphError,
    PayloadTooLargeError,
    UnauthenticatedError,
)
from orggraph.events import Broker, publish_changed_states
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.history import record_batch
from orggraph.graph.model import TouchpointType
from orggraph.graph.tracking import (
    BATCH_MAX_BYTES,
    DEFAULT_EVENT_TYPES,
    EVENT_KINDS,
    TrackedBatch,
    TrackingMapping,
    map_batch,
    now,
    write_tracked,
)
from orggraph.graph.write_rules import WriteSummary
from orggraph.http_security import decode_json_object
from orggraph.settings import Settings

# The most events one group-commit transaction takes (several requests' worth).
GROUP_MAX_EVENTS = 500

# A browser's analytics.js posts from the company's own pages, on any origin.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


def tracking_mapping(settings: Settings) -> TrackingMapping:
    types = dict(DEFAULT_EVENT_TYPES)
    types.update(
        {name: TouchpointType[kind] for name, kind in settings.tracking_event_types.items()}
    )
    return TrackingMapping(
        user_prefix=settings.tracking_user_prefix,
        anonymous_prefix=settings.tracking_anonymous_prefix,
        event_types=types,
    )


class TrackingApi:
    """The endpoints of one app: its write keys, mapping, database and broker."""

    def __init__(
        self, settings: Settings, graph: Callable[[], Graph], broker: Callable[[], Broker]
    ) -> None:
        self.write_keys = dict(settings.tracking_write_keys)
        self.mapping = tracking_mapping(settings)
        self.graph = graph
        self.broker = broker
        self.writer = GroupWriter(self.write)

    def routes(self) -> list[Route]:
        """None when no write key is configured: tracking is off."""
        if not self.write_keys:
            return []
        # analytics.js posts to the one-letter paths (/v1/t, /v1/p, ..., /v1/b).
        kinds = ["batch", *EVENT_KINDS]
        paths = {**{kind: kind for kind in kinds}, **{kind[0]: kind for kind in kinds}}
        return [
            Route(f"/v1/{path}", self._endpoint(kind), methods=["POST", "OPTIONS"])
            for path, kind in paths.items()
        ]

    def _endpoint(self, path: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=CORS_HEADERS)
            try:
                return await self.handle(request, path)
            except OrgGraphError as error:
                return refusal(error)

        return endpoint

    async def handle(self, request: Request, path: str) -> Response:
        received_at = now()
        try:
            body = decode_json_object(await read_body(request), "(a Segment event or batch)")
        except json.JSONDecodeError as error:
            raise BadInputError(error.msg) from error
        source = self.source_of(request.headers.get("authorization"), body.get("writeKey"))
        events, shared_context = events_of(body, path)
        batch, errors = map_batch(events, source, self.mapping, received_at, shared_context)
        if errors and not batch.accepted:
            return JSONResponse(
                {
                    "success": False,
                    "code": BadInputError.code,
                    "message": f"all {len(errors)} events were refused",
                    "accepted": 0,
                    "rejected": [e.to_json() for e in errors],
                },
                status_code=400,
                headers=CORS_HEADERS,
            )
        await self.writer.submit(batch)
        return JSONResponse(
            {
                "success": True,
                "accepted": batch.accepted,
                "rejected": [e.to_json() for e in errors],
            },
            headers=CORS_HEADERS,
        )

    async def write(self, batches: Sequence[TrackedBatch]) -> None:
        """One transaction for the requests of a group, then their touchpointAdded."""
        merged = TrackedBatch(source="")
        for batch in batches:
            merged.absorb(batch)
        graph = self.graph()

        sources = ", ".join(sorted({b.source for b in batches}))

        async def work(tx: Tx) -> WriteSummary:
            summary = await write_tracked(tx, merged, self.mapping)
            await record_batch(tx, "track", "tracking", "Touchpoint", summary, sources)
            return summary

        # The touchpoints' states after the write are their events: no read after the commit.
        publish_changed_states(self.broker(), await graph.write(work))

    def source_of(self, authorization: str | None, body_key: Any) -> str:
        """The source whose write key the request carries (Basic user name, or writeKey)."""
        key = basic_user(authorization) if authorization else None
        if key is None and isinstance(body_key, str):
            key = body_key
        if key is None:
            raise UnauthenticatedError(
                "a write key is required: HTTP Basic with the key as user name, or writeKey"
            )
        found: str | None = None
        for known, source in self.write_keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                found = source
        if found is None:
            raise UnauthenticatedError("the write key is not valid")
        return found


class GroupWriter:
    """Group commit: requests that arrive while a write is in flight are written together
    in the next transaction (at most ``max_events`` events), by whichever of them gets the
    lock first; each request returns once the transaction holding its rows committed.

    Fewer, larger transactions cost far fewer round trips per event than one per request
    of ~100 events, and the tracking writes of one process never deadlock each other.
    """

    def __init__(
        self,
        write: Callable[[Sequence[TrackedBatch]], Awaitable[None]],
        max_events: int = GROUP_MAX_EVENTS,
    ) -> None:
        self.write = write
        self.max_events = max_events
        self.pending: list[tuple[TrackedBatch, asyncio.Future[None]]] = []
        self.lock = asyncio.Lock()

    async def submit(self, batch: TrackedBatch) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((batch, done))
        async with self.lock:
            while not done.done():  # earlier requests may fill a group without this one
                await self._write_group()
        done.result()  # raises what the transaction that held the rows raised

    async def _write_group(self) -> None:
        group: list[tuple[TrackedBatch, asyncio.Future[None]]] = []
        events = 0
        while self.pending and (
            not group or events + len(self.pending[0][0].touches) <= self.max_events
        ):
            item = self.pending.pop(0)
            group.append(item)
            events += len(item[0].touches)
        try:
            await self.write([batch for batch, _ in group])
        except Exception as error:  # every request of the group gets the same answer
            for _, future in group:
                future.set_exception(error)
            return
        except BaseException:  # the writing request was cancelled: the others must not wait
            interrupted = DatabaseUnavailableError(
                "the transaction holding these events was interrupted; send them again"
            )
            for _, future in group:
                if not future.done():
                    future.set_exception(interrupted)
            raise
        for _, future in group:
            future.set_result(None)


def basic_user(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError("the Basic credentials are not base64 of 'key:'") from None
    return decoded.partition(":")[0]


def events_of(body: Mapping[str, Any], path: str) -> tuple[list[Any], dict[str, Any]]:
    """The events of a request and the context a batch shares with each of them."""
    if path != "batch":
        return [{**body, "type": path}], {}
    events = body.get("batch")
    if not isinstance(events, list):
        raise BadInputError("'batch' must be a list of events", field="batch")
    shared = body.get("context")
    return events, shared if isinstance(shared, dict) else {}


async def read_body(request: Request) -> bytes:
    """The body, gunzipped when sent so, refused above Segment's 500 KB per batch."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BATCH_MAX_BYTES:
            raise too_large()
        chunks.append(chunk)
    data = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() != "gzip":
        return data
    inflater = zlib.decompressobj(wbits=31)
    try:
        plain = inflater.decompress(data, BATCH_MAX_BYTES + 1)
    except zlib.error as error:
        raise BadInputError(f"the gzip body does not decompress: {error}") from error
    if len(plain) > BATCH_MAX_BYTES:
        raise too_large()
    return plain


def too_large() -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request is larger than {BATCH_MAX_BYTES} bytes (Segment's batch limit)",
        maxBytes=BATCH_MAX_BYTES,
    )


def refusal(error: OrgGraphError) -> JSONResponse:
    """A refused request: Segment's shape (code, message, which its libraries read)
    plus the service's (errors with extensions.code)."""
    body = {
        "success": False,
        "code": error.code,
        "message": error.message,
        "errors": [{"message": error.message, "extensions": error.extensions()}],
    }
    headers = dict(CORS_HEADERS)
    if isinstance(error, UnauthenticatedError):
        headers["WWW-Authenticate"] = 'Basic realm="tracking"'
    return JSONResponse(body, status_code=error.http_status, headers=headers)
