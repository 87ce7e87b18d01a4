"""Errors -> GraphQL errors with a stable ``extensions.code``, mapped in one place.

* an ``OrgGraphError`` keeps its message and gets its code;
* parse / validation / variable errors get GRAPHQL_PARSE_FAILED,
  GRAPHQL_VALIDATION_FAILED or BAD_USER_INPUT;
* anything else is logged with its traceback and shown as INTERNAL with a
  generic message: no Python or Cypher text reaches a client.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError, VariableDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import StreamExecutionResult

from orggraph.errors import (
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    OrgGraphError,
    all_error_codes,
)

log = logging.getLogger("orggraph.graphql")


def classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, OrgGraphError):
        return _with(error, original.message, original.extensions())
    if original is None:
        existing = (error.extensions or {}).get("code")
        if existing:
            return error
        return _with(error, error.message, {"code": _code_without_cause(error)})
    if isinstance(original, GraphQLError):
        if _about_variable(error):  # "Variable '$t' has invalid value at .kind: ..."
            return _with(error, error.message, {"code": "BAD_USER_INPUT"})
        return classify(original)
    log.error("unexpected error in %s", error.path, exc_info=original)
    return _with(error, "Internal server error", {"code": "INTERNAL"})


# graphql-core's wording for values that do not fit their type (variables, coercion).
_BAD_VALUE_PREFIXES = (
    "Variable ",
    "Expected value of type",
    "Invalid value",
    "Int cannot",
    "Float cannot",
)


def _about_variable(error: GraphQLError) -> bool:
    """A variable's value that its type refuses (null for T!, an unknown enum value, a
    malformed DateTime) is bad input; graphql-core points such errors at the variable."""
    return any(isinstance(node, VariableDefinitionNode) for node in error.nodes or ())


def _code_without_cause(error: GraphQLError) -> str:
    if error.message.startswith("Syntax Error"):
        return GRAPHQL_PARSE_FAILED
    if error.message.startswith(_BAD_VALUE_PREFIXES) or _about_variable(error):
        return "BAD_USER_INPUT"
    if error.path is not None:
        return "BAD_USER_INPUT"
    return GRAPHQL_VALIDATION_FAILED


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a result once the operation is done, and of each
    streamed result (WebSocket) as it leaves, before the operation is done."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [classify(error) for error in errors]

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [_classify_streamed(error) for error in errors]  # type: ignore[union-attr]
        yield


def _classify_streamed(error: GraphQLError) -> GraphQLError:
    """As ``classify``, but a document that does not parse or names no runnable operation
    keeps its type: the WebSocket protocol closes the connection for those."""
    if isinstance(error, GraphQLSyntaxError):
        return error
    if isinstance(error.original_error, (CannotGetOperationTypeError, InvalidOperationTypeError)):
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            original_error=error.original_error,
            extensions={"code": "BAD_USER_INPUT"},
        )
    return classify(error)


_CODES = enum.Enum("ErrorCode", {code: code for code in all_error_codes()})  # type: ignore[misc]
ErrorCode = strawberry.enum(
    _CODES, description="Every `extensions.code` an error of this API may carry."
)
