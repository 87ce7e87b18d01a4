"""The small set of typed errors every layer raises.

Each maps to exactly one stable GraphQL ``extensions.code`` (see
``orggraph.schema.errors``); nothing else decides what a client sees.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OrgGraphError(Exception):
    """Base of all errors a client may see. ``message`` is safe to show."""

    code: ClassVar[str] = "INTERNAL"
    # The HTTP status of a response that carries only this error (POST /cypher, refusals
    # before GraphQL runs); a GraphQL response keeps the GraphQL-over-HTTP status rules.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class BadInputError(OrgGraphError):
    """The request is malformed: a bad id, a missing field, an unknown value."""

    code = "BAD_USER_INPUT"
    http_status = 400


class NotFoundError(OrgGraphError):
    """A referenced entity does not exist."""

    code = "NOT_FOUND"
    http_status = 404


class ConflictError(OrgGraphError):
    """The request contradicts what is stored (e.g. an ambiguous id)."""

    code = "CONFLICT"
    http_status = 409


class DatabaseUnavailableError(OrgGraphError):
    """Neo4j could not be reached; the request may be retried later."""

    code = "DATABASE_UNAVAILABLE"
    http_status = 503


class UnauthenticatedError(OrgGraphError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(OrgGraphError):
    code = "FORBIDDEN"
    http_status = 403


class QueryTooComplexError(OrgGraphError):
    code = "QUERY_TOO_COMPLEX"
    http_status = 422


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
    http_status = 413


class BadRequestError(BadInputError):
    """The HTTP request itself is refused: a Host the service does not answer (HTTP 400)."""

    code = "BAD_REQUEST"


class CsrfPreventedError(BadInputError):
    """A request a browser could send cross-site without a preflight (HTTP 400)."""

    code = "CSRF_PREVENTED"


class MethodNotAllowedError(BadInputError):
    """/graphql answers GET and POST only (HTTP 405, with an Allow header)."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class PersistedQueryNotFoundError(BadInputError):
    """A hash-only request (automatic persisted queries) whose document this service does
    not know yet: the client sends it again with the document (docs/operations.md)."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryNotInListError(BadInputError):
    """Trusted-documents mode: the document is not in the service's manifest."""

    code = "PERSISTED_QUERY_NOT_IN_LIST"


# The codes of graphql-core's own errors (given in schema.errors): no class here raises them.
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def all_error_codes() -> tuple[str, ...]:
    """Every ``extensions.code`` a client may see: one per error class, and graphql-core's."""
    codes: list[str] = []
    classes: list[type[OrgGraphError]] = [OrgGraphError]
    while classes:
        kind = classes.pop()
        codes.append(kind.code)
        classes.extend(kind.__subclasses__())
    return tuple(sorted({*codes, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED}))
