"""Parsed and validated documents cached across requests (frontends send the same few
queries).

Strawberry's own ``ParserCache`` raises a syntax error out of the extension hook,
past the error mapping; this one leaves a document that does not parse to
Strawberry's normal parse, which reports it like any other error. Strawberry's
``ValidationCache`` validates even when an earlier hook already refused the
document (``orggraph.schema.limits``); this one leaves such a document alone, so
a refused document is never walked by graphql-core's rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from orggraph.schema.limits import DocumentCheck


def cached_parser(maxsize: int) -> Callable[..., DocumentNode]:
    return lru_cache(maxsize=maxsize)(parse)


def cached_validator(maxsize: int) -> Callable[..., list[GraphQLError]]:
    """Keyed by schema, document and rules (the document by value: a re-parsed text hits)."""
    return lru_cache(maxsize=maxsize)(validate_document)


class CachedParsing(SchemaExtension):
    def __init__(self, parse_document: Callable[..., DocumentNode]) -> None:
        super().__init__()
        self.parse_document = parse_document

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:
            options: dict[str, Any] = dict(context.parse_options)
            # On a syntax error Strawberry parses again (uncached) and reports the error.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.parse_document(context.query, **options)
        yield


class CachedValidation(DocumentCheck):
    replaces_validation = True

    def __init__(self, validate: Callable[..., list[GraphQLError]]) -> None:
        super().__init__()
        self.validate = validate

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        context = self.execution_context
        return self.validate(context.schema._schema, document, context.validation_rules)
