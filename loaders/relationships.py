"""Related-entities loaders: one per (relationship kind, direction), batched per request.

Keys are ``(entity id, limit)``; a batch holding several limits runs one query
per distinct limit (in practice one: a field's limit is the same for every
parent in a request).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from strawberry.dataloader import DataLoader

from orggraph.graph.driver import Graph
from orggraph.graph.filters import Where
from orggraph.graph.model import RELATIONSHIPS, RelationshipKind
from orggraph.graph.nodes import Related, RelatedPage, related, related_page, related_totals

RelatedKey = tuple[str, int]


class RelatedByIdLoader(DataLoader[RelatedKey, list[Related]]):
    def __init__(self, graph: Graph, kind: RelationshipKind, outgoing: bool) -> None:
        spec = RELATIONSHIPS[kind]

        async def load(keys: list[RelatedKey]) -> list[list[Related]]:
            by_limit: dict[int, list[str]] = defaultdict(list)
            for node_id, limit in keys:
                by_limit[limit].append(node_id)
            results: dict[RelatedKey, list[Related]] = {}
            for limit, ids in by_limit.items():
                found = await related(graph, spec, outgoing, list(dict.fromkeys(ids)), limit)
                for node_id in ids:
                    results[(node_id, limit)] = found.get(node_id, [])
            return [results[key] for key in keys]

        super().__init__(load_fn=load)


class RelatedPageLoader(DataLoader[str, list[Related]]):
    """``load(entity id)`` -> its related entities on one page (where, sort, after):
    one query per batch."""

    def __init__(
        self, graph: Graph, kind: RelationshipKind, outgoing: bool, page: RelatedPage, limit: int
    ) -> None:
        spec = RELATIONSHIPS[kind]

        async def load(ids: list[str]) -> list[list[Related]]:
            found = await related_page(graph, spec, outgoing, list(dict.fromkeys(ids)), page, limit)
            return [found.get(node_id, []) for node_id in ids]

        super().__init__(load_fn=load)


class RelatedTotalsLoader(DataLoader[str, dict[str, Any]]):
    """``load(entity id)`` -> ``{count, fields}`` of its related entities matching a where
    (``fields``, the aggregates, computed only when ``aggregate``)."""

    def __init__(
        self, graph: Graph, kind: RelationshipKind, outgoing: bool, where: Where, aggregate: bool
    ) -> None:
        spec = RELATIONSHIPS[kind]

        async def load(ids: list[str]) -> list[dict[str, Any]]:
            unique = list(dict.fromkeys(ids))
            found = await related_totals(graph, spec, outgoing, unique, where, aggregate)
            none = {"count": 0, "fields": {}}
            return [found.get(node_id, none) for node_id in ids]

        super().__init__(load_fn=load)
