"""What the OCEL 2.0 importers share: a log's company, its process and who owns each step.

Each log names its activities in process order with a stage and a touchpoint
type (``Activity``); both importers turn them into one ``Process`` with a
``Step`` per activity, chained by STEP NEXT, and give each step to the team
doing most of its events. The company is one GROUP team above the log's teams.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import ChangeTracking
from orggraph.graph.importers.common import ImportSummary, Loader
from orggraph.graph.model import RelationshipKind

Activity = tuple[str, str, str]
"""(OCEL activity, stage of its step, touchpoint type of its events)."""


Log = TypeVar("Log")


@dataclass(frozen=True)
class OcelImport(Generic[Log]):
    """An OCEL log's import: ``read`` the directory into memory (correlated, nothing
    written), then ``load`` it in bulk; the summary names the ``dataset`` and the time."""

    dataset: str
    read: Callable[[Path], Log]
    load: Callable[[Loader, Log], Awaitable[None]]

    async def __call__(
        self,
        graph: Graph,
        directory: Path,
        *,
        progress: Callable[[str], None] | None = None,
        batch_size: int = 10_000,
        tracking: ChangeTracking | None = None,
    ) -> ImportSummary:
        started = time.perf_counter()
        data = self.read(directory)
        summary = ImportSummary(self.dataset)
        await self.load(Loader(graph, summary, progress, batch_size, tracking), data)
        summary.seconds = time.perf_counter() - started
        return summary


def id_maker(namespace: str, kind: str, key: Callable[[str], str] = str) -> Callable[[str], str]:
    """The ids one import gives one kind of entity: ``om:step:pay_order`` from the
    import's namespace, the kind and the source's ``key`` of a raw value."""

    def make(raw: str) -> str:
        return f"{namespace}{kind}:{key(raw)}"

    return make


def touchpoint_types(activities: Sequence[Activity]) -> dict[str, str]:
    return {activity: kind for activity, _, kind in activities}


def company_teams(
    group_id: str, group_name: str, teams: Iterable[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    """Team rows: the company's GROUP team, then each (id, name, function) team."""
    return [
        {"id": group_id, "name": group_name, "kind": "GROUP", "function": "MANAGEMENT"},
        *({"id": tid, "name": name, "kind": "TEAM", "function": f} for tid, name, f in teams),
    ]


async def load_process(
    loader: Loader,
    process_id: str,
    name: str,
    activities: Sequence[Activity],
    step_id: Callable[[str], str],
    step_name: Callable[[str], str],
) -> None:
    """The process, one step per activity (``order`` from 1), each step NEXT the following."""
    await loader.nodes("Process", [{"id": process_id, "name": name, "lifecycle": "CONSOLIDATED"}])
    await loader.nodes(
        "Step",
        [
            {
                "id": step_id(a),
                "name": step_name(a),
                "stage": stage,
                "processId": process_id,
                "order": i + 1,
            }
            for i, (a, stage, _) in enumerate(activities)
        ],
    )
    await loader.relationships(
        RelationshipKind.STEP_NEXT_STEP,
        [
            {"from": step_id(a[0]), "to": step_id(b[0])}
            for a, b in zip(activities, activities[1:], strict=False)
        ],
    )


def most_frequent(by_activity: Mapping[str, Counter[str]]) -> dict[str, str]:
    """Each activity's most frequent performer (the first counted wins a tie)."""
    return {activity: counts.most_common(1)[0][0] for activity, counts in by_activity.items()}


async def load_step_owners(
    loader: Loader,
    owners: Mapping[str, str],
    team_id: Callable[[str], str],
    step_id: Callable[[str], str],
) -> None:
    """TEAM OWNS STEP for each (activity, owner) pair, in activity order."""
    await loader.relationships(
        RelationshipKind.TEAM_OWNS_STEP,
        [
            {"from": team_id(owner), "to": step_id(activity)}
            for activity, owner in sorted(owners.items())
        ],
    )
