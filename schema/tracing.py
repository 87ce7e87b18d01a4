"""Every transaction says which GraphQL operation and which request caused it.

Visible to a database administrator in ``SHOW TRANSACTIONS YIELD metaData`` (and in
Neo4j's query log where it is on): ``{"app": "orggraph", "operation": <operation
name or "anonymous">, "requestId": <the X-Request-ID header, else a fresh id>}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from orggraph.graph.driver import transaction_metadata

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128


def request_id_of(request: Any) -> str:
    """The client's request id when it sent a short printable one, else a fresh one."""
    headers = getattr(request, "headers", None)
    given = headers.get(REQUEST_ID_HEADER) if headers is not None else None
    if given and len(given) <= MAX_REQUEST_ID_LENGTH and given.isprintable():
        return str(given)
    return uuid.uuid4().hex


class TransactionMetadata(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        with transaction_metadata(
            app="orggraph",
            operation=context.operation_name or "anonymous",
            requestId=request_id_of(request),
        ):
            yield
