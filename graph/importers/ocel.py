"""What the OCEL 2.0 importers share: a log's company, its process and who owns each step.

Each log names its activities in process order with a stage and a touchpoint
type (``Activity``); both importers turn them into one ``Process`` with a
``Step`` per activity, chained by STEP NEXT, and give each step to the team
doing most of its events. The company is one GROUP team above the log's teams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from orggraph.graph.importers.common import Loader
from orggraph.graph.model import RelationshipKind

Activity = tuple[str, str, str]
"""(OCEL activity, stage of its step, touchpoint type of its events)."""


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
