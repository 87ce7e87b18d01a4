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

    def __init_subclass__(cls, *, code: str | None = None, http_status: int | None = None) -> None:
        """An error class names its code and HTTP status where they are not its base's."""
        super().__init_subclass__()
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class BadInputError(OrgGraphError, code="BAD_USER_INPUT", http_status=400):
    """The request is malformed: a bad id, a missing field, an unknown value."""


class NotFoundError(OrgGraphError, code="NOT_FOUND", http_status=404):
    """A referenced entity does not exist."""


class ConflictError(OrgGraphError, code="CONFLICT", http_status=409):
    """The request contradicts what is stored (e.g. an ambiguous id)."""


class DatabaseUnavailableError(OrgGraphError, code="DATABASE_UNAVAILABLE", http_status=503):
    """Neo4j could not be reached; the request may be retried later."""


class UnauthenticatedError(OrgGraphError, code="UNAUTHENTICATED", http_status=401):
    """No valid credentials: a missing, expired or malformed token."""


class ForbiddenError(OrgGraphError, code="FORBIDDEN", http_status=403):
    """The caller is known, but its roles or teams do not allow the request."""


class QueryTooComplexError(OrgGraphError, code="QUERY_TOO_COMPLEX", http_status=422):
    """The request asks for more than the service computes at once (depth, cost)."""


class InternalError(OrgGraphError, code="INTERNAL"):
    """A failure on the service's side; the message says nothing more."""


class CypherSyntaxError(BadInputError, code="CYPHER_SYNTAX_ERROR"):
    """An analyst's Cypher query does not parse or plan (Neo4j's own message)."""


class CypherNotReadOnlyError(BadInputError, code="CYPHER_NOT_READ_ONLY"):
    """An analyst's Cypher query would write, change the schema, administer the
    database, read files or call a procedure outside the read-only allow-list."""


class CypherTimeoutError(QueryTooComplexError, code="CYPHER_TIMEOUT"):
    """An analyst's Cypher query ran past the server-side timeout."""


class CypherQueryFailedError(BadInputError, code="CYPHER_QUERY_FAILED"):
    """An analyst's Cypher query planned but failed while running, for a reason of its
    own (a shortest path whose start is its end, a value the driver cannot represent)."""


class CypherMemoryLimitError(QueryTooComplexError, code="CYPHER_MEMORY_LIMIT"):
    """An analyst's Cypher query needed more memory than one transaction may take; the
    database stopped it (and only it)."""


class PayloadTooLargeError(BadInputError, code="PAYLOAD_TOO_LARGE", http_status=413):
    """The request body is larger than the service accepts (HTTP 413)."""


class BadRequestError(BadInputError, code="BAD_REQUEST"):
    """The HTTP request itself is refused: a Host the service does not answer (HTTP 400)."""


class CsrfPreventedError(BadInputError, code="CSRF_PREVENTED"):
    """A request a browser could send cross-site without a preflight (HTTP 400)."""


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
