"""Process loaders: lifecycle histories, batched per request."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from orggraph.graph.driver import Graph
from orggraph.graph.processes import lifecycle_histories


class LifecycleHistoryLoader(DataLoader[str, list[dict[str, Any]]]):
    """``load(process id)`` -> its recorded lifecycle transitions, oldest first."""

    def __init__(self, graph: Graph) -> None:
        async def load(ids: list[str]) -> list[list[dict[str, Any]]]:
            found = await lifecycle_histories(graph, list(dict.fromkeys(ids)))
            return [found.get(process_id, []) for process_id in ids]

        super().__init__(load_fn=load)
