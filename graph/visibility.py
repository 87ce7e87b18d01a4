"""What a team member (FUNCTION role) may see: its teams' KPIs and SLAs, in one query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import RELATIONSHIPS, RelationshipKind

VISIBLE_TO_TEAMS: LiteralString = """
OPTIONAL MATCH (t:Team) WHERE t.id IN $teamIds
WITH collect(t) AS teams
RETURN
  COLLECT {
    UNWIND teams AS t MATCH (t)-[:ACCOUNTABLE_FOR]->(k:KPI) RETURN k.id AS id
    UNION
    UNWIND teams AS t MATCH (k:KPI)-[:SHARED_WITH]->(t) RETURN k.id AS id
  } AS kpiIds,
  COLLECT {
    UNWIND teams AS t MATCH (s:SLA)-[:PROVIDER|CONSUMER]->(t) RETURN DISTINCT s.id AS id
  } AS slaIds
"""
"""The KPIs the teams are accountable for or that are shared with them, and the SLAs
where one of the teams is provider or consumer. Anchored on the Team id constraint."""


@dataclass(frozen=True)
class Visibility:
    teams: frozenset[str]
    kpis: frozenset[str]
    slas: frozenset[str]


async def visibility(graph: Graph, team_ids: frozenset[str]) -> Visibility:
    records = await graph.query(VISIBLE_TO_TEAMS, teamIds=sorted(team_ids))
    record = records[0]
    return Visibility(team_ids, frozenset(record["kpiIds"]), frozenset(record["slaIds"]))


def visible_cypher(label: str, node: LiteralString) -> LiteralString | None:
    """Whether a team member sees ``node``, a node of ``label``, given its ``Visibility``
    as the parameters ``$seenKpis`` and ``$seenSlas`` (``visible_params``); None when it
    sees every node of the label. A measurement is seen with the KPI it belongs to."""
    if label == "KPI":
        return node + ".id IN $seenKpis"
    if label == "SLA":
        return node + ".id IN $seenSlas"
    if label == "Measurement":
        measured = RELATIONSHIPS[RelationshipKind.KPI_HAS_MEASUREMENT].type
        return (
            "EXISTS { MATCH (seen:KPI)-[:" + measured + "]->(" + node + ") "
            "WHERE seen.id IN $seenKpis }"
        )
    return None


def visible_params(seen: Visibility) -> dict[str, list[str]]:
    return {"seenKpis": sorted(seen.kpis), "seenSlas": sorted(seen.slas)}
