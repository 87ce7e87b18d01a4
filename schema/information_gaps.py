"""Result types of the information-gaps traversal (rules: orggraph.graph.information_gaps)."""

from __future__ import annotations

from typing import Any

import strawberry

from orggraph.schema.types import Kpi, Step, Team


@strawberry.type(
    description="A team moving a KPI it cannot see: it owns feeding steps, not shared."
)
class UnseenKpi:
    team: Team
    kpi: Kpi
    steps: list[Step] = strawberry.field(description="The KPI's feeding steps the team owns.")


@strawberry.type(description="A KPI whose accountable team owns none of the steps that feed it.")
class DetachedKpi:
    kpi: Kpi
    accountable: Team
    steps: list[Step] = strawberry.field(description="The steps feeding the KPI.")
    owners: list[Team] = strawberry.field(description="The teams owning those steps.")


@strawberry.type(description="Where who moves a number and who sees it diverge.")
class InformationGaps:
    unseen: list[UnseenKpi]
    detached: list[DetachedKpi]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> InformationGaps:
        unseen: list[UnseenKpi] = []
        detached: list[DetachedKpi] = []
        for row in rows:
            kpi = Kpi.from_props(row["kpi"])
            for entry in row["unseen"]:
                unseen.append(
                    UnseenKpi(
                        team=Team.from_props(entry["team"]),
                        kpi=kpi,
                        steps=[Step.from_props(s) for s in entry["steps"]],
                    )
                )
            if row["detached"]:
                detached.append(
                    DetachedKpi(
                        kpi=kpi,
                        accountable=Team.from_props(row["accountable"]),
                        steps=sorted(
                            (Step.from_props(s) for s in row["steps"]), key=lambda s: str(s.id)
                        ),
                        owners=[Team.from_props(t) for t in row["owners"]],
                    )
                )
        unseen.sort(key=lambda u: (str(u.team.id), str(u.kpi.id)))
        return cls(unseen=unseen, detached=detached)
