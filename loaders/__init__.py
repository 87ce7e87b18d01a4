"""DataLoaders, built fresh for every request (never shared between requests).

``Loaders`` is kept on the request context. Generic loaders cover every label
and relationship of the model; domain modules add their own through ``get``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, LiteralString, ParamSpec, TypeVar

from orggraph.graph.driver import Graph
from orggraph.graph.filters import Where
from orggraph.graph.model import RelationshipKind
from orggraph.graph.nodes import RelatedPage
from orggraph.loaders.nodes import NodeByIdLoader
from orggraph.loaders.relationships import (
    RelatedByIdLoader,
    RelatedPageLoader,
    RelatedTotalsLoader,
)

L = TypeVar("L")
P = ParamSpec("P")


class Loaders:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._cache: dict[Any, Any] = {}

    def get(self, key: Any, factory: Callable[[Graph], L]) -> L:
        """The request's loader for ``key``, created by ``factory`` on first use."""
        if key not in self._cache:
            self._cache[key] = factory(self.graph)
        loader: L = self._cache[key]
        return loader

    def shared(
        self, loader: Callable[Concatenate[Graph, P], L], *args: P.args, **kwargs: P.kwargs
    ) -> L:
        """The request's ``loader(graph, *args, **kwargs)``: one per loader and arguments."""
        key = (loader, args, tuple(sorted(kwargs.items())))
        return self.get(key, lambda graph: loader(graph, *args, **kwargs))

    def node_by_id(self, label: LiteralString) -> NodeByIdLoader:
        return self.shared(NodeByIdLoader, label)

    def related(self, kind: RelationshipKind, outgoing: bool) -> RelatedByIdLoader:
        return self.shared(RelatedByIdLoader, kind, outgoing)

    def related_page(
        self, kind: RelationshipKind, outgoing: bool, page: RelatedPage, limit: int
    ) -> RelatedPageLoader:
        return self.shared(RelatedPageLoader, kind, outgoing, page, limit)

    def related_totals(
        self, kind: RelationshipKind, outgoing: bool, where: Where, aggregate: bool
    ) -> RelatedTotalsLoader:
        return self.shared(RelatedTotalsLoader, kind, outgoing, where, aggregate)
