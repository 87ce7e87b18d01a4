"""Entity-by-id loaders: one per label, batched per request."""

from __future__ import annotations

from typing import Any, LiteralString

from strawberry.dataloader import DataLoader

from orggraph.graph.driver import Graph
from orggraph.graph.nodes import nodes_by_id

NodeProps = dict[str, Any]


class NodeByIdLoader(DataLoader[str, NodeProps | None]):
    """``load(id)`` -> the entity's properties, or None when it does not exist."""

    def __init__(self, graph: Graph, label: LiteralString) -> None:
        async def load(ids: list[str]) -> list[NodeProps | None]:
            found = await nodes_by_id(graph, label, list(dict.fromkeys(ids)))
            return [found.get(node_id) for node_id in ids]

        super().__init__(load_fn=load)
        self.label = label
