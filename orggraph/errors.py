"""The small set of typed errors every layer raises.

Each maps to exactly one stable GraphQL ``extensions.code`` (see
``orggraph.schema.errors``); nothing else decides what a client sees.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OrgGraphError(Exception):
    """Base of all errors a client may see. ``message`` is safe to show."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class BadInputError(OrgGraphError):
    """The request is malformed: a bad id, a missing field, an unknown value."""

    code = "BAD_USER_INPUT"


class NotFoundError(OrgGraphError):
    """A referenced entity does not exist."""

    code = "NOT_FOUND"


class ConflictError(OrgGraphError):
    """The request contradicts what is stored (e.g. an ambiguous id)."""

    code = "CONFLICT"


class DatabaseUnavailableError(OrgGraphError):
    """Neo4j could not be reached; the request may be retried later."""

    code = "DATABASE_UNAVAILABLE"


class UnauthenticatedError(OrgGraphError):
    code = "UNAUTHENTICATED"


class ForbiddenError(OrgGraphError):
    code = "FORBIDDEN"


class QueryTooComplexError(OrgGraphError):
    code = "QUERY_TOO_COMPLEX"


class InternalError(OrgGraphError):
    code = "INTERNAL"


class CypherSyntaxError(BadInputError):
    """An analyst's Cypher query does not parse or plan (Neo4j's own message)."""

    code = "CYPHER_SYNTAX_ERROR"


class CypherNotReadOnlyError(BadInputError):
    """An analyst's Cypher query would write, change the schema, administer the
    database, read files or call a procedure outside the read-only allow-list."""

    code = "CYPHER_NOT_READ_ONLY"


class CypherTimeoutError(QueryTooComplexError):
    """An analyst's Cypher query ran past the server-side timeout."""

    code = "CYPHER_TIMEOUT"


class CypherQueryFailedError(BadInputError):
    """An analyst's Cypher query planned but failed while running, for a reason of its
    own (a shortest path whose start is its end, a value the driver cannot represent)."""

    code = "CYPHER_QUERY_FAILED"


class CypherMemoryLimitError(QueryTooComplexError):
    """An analyst's Cypher query needed more memory than one transaction may take; the
    database stopped it (and only it)."""

    code = "CYPHER_MEMORY_LIMIT"


class PayloadTooLargeError(BadInputError):
    """The request body is larger than the service accepts (HTTP 413)."""

    code = "PAYLOAD_TOO_LARGE"


class BadRequestError(BadInputError):
    """The HTTP request itself is refused: a Host the service does not answer (HTTP 400)."""

    code = "BAD_REQUEST"


class CsrfPreventedError(BadInputError):
    """A request a browser could send cross-site without a preflight (HTTP 400)."""

    code = "CSRF_PREVENTED"


ALL_ERROR_CODES: tuple[str, ...] = (
    "BAD_USER_INPUT",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "NOT_FOUND",
    "CONFLICT",
    "DATABASE_UNAVAILABLE",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "QUERY_TOO_COMPLEX",
    "INTERNAL",
    "CYPHER_SYNTAX_ERROR",
    "CYPHER_NOT_READ_ONLY",
    "CYPHER_TIMEOUT",
    "CYPHER_QUERY_FAILED",
    "CYPHER_MEMORY_LIMIT",
    "PAYLOAD_TOO_LARGE",
    "BAD_REQUEST",
    "CSRF_PREVENTED",
)
