"""A team as a service, and a KPI's status: one Cypher query each."""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.kpis import MEASUREMENTS_OF_K

SERVICES_OF_TEAM: LiteralString = """
  COLLECT {
    MATCH (team)-[:PROVIDES]->(s:Service)
    RETURN {service: s {.*},
            teams: COLLECT { MATCH (s)-[:CONSUMED_BY]->(x:Team) RETURN x {.*} ORDER BY x.id }}
    ORDER BY s.id
  } AS provides,
  COLLECT {
    MATCH (s:Service)-[:CONSUMED_BY]->(team)
    RETURN {service: s {.*},
            teams: COLLECT { MATCH (x:Team)-[:PROVIDES]->(s) RETURN x {.*} ORDER BY x.id }}
    ORDER BY s.id
  } AS consumes"""
"""Projection items ``provides`` and ``consumes`` of the bound ``team``: each service
with the teams on its other side. Shared by teamService and reorgImpact."""

TEAM_SERVICE: LiteralString = (
    """
MATCH (team:Team {id: $teamId})
RETURN team {.*} AS team,
  COLLECT { MATCH (team)-[p:PART_OF]->(x:Team)
            WHERE (p.from IS NULL OR p.from <= $at) AND (p.to IS NULL OR p.to > $at)
            RETURN x {.*} ORDER BY x.id } AS parents,
  COLLECT { MATCH (x:Team)-[p:PART_OF]->(team)
            WHERE (p.from IS NULL OR p.from <= $at) AND (p.to IS NULL OR p.to > $at)
            RETURN x {.*} ORDER BY x.id } AS children,
"""
    + SERVICES_OF_TEAM
    + """,
  COLLECT {
    MATCH (team)-[o:OWNS]->(s:Step)
    OPTIONAL MATCH (p:Process)-[h:HAS_STEP]->(s)
    RETURN {step: s {.*}, process: p {.*}, order: h.order, validFrom: o.from, validTo: o.to,
            current: o.from <= $at AND (o.to IS NULL OR o.to > $at)}
    ORDER BY p.id, h.order, s.id, o.from
  } AS ownedSteps,
  COLLECT {
    MATCH (team)-[:ACCOUNTABLE_FOR]->(k:KPI)
    RETURN {kpi: k {.*}, shared: false,
            """
    + MEASUREMENTS_OF_K
    + """}
    ORDER BY k.id
  } + COLLECT {
    MATCH (k:KPI)-[:SHARED_WITH]->(team)
    WHERE NOT (team)-[:ACCOUNTABLE_FOR]->(k)
    RETURN {kpi: k {.*}, shared: true,
            """
    + MEASUREMENTS_OF_K
    + """}
    ORDER BY k.id
  } AS kpis,
  COLLECT {
    MATCH (sla:SLA)-[r:PROVIDER|CONSUMER]->(team)
    OPTIONAL MATCH (sla)-[:TRACKED_BY]->(k:KPI)
    RETURN {sla: sla {.*}, role: type(r),
            provider: head(COLLECT { MATCH (sla)-[:PROVIDER]->(x:Team) RETURN x {.*} }),
            consumer: head(COLLECT { MATCH (sla)-[:CONSUMER]->(x:Team) RETURN x {.*} }),
            step: head(COLLECT { MATCH (sla)-[:GOVERNS]->(x:Step) RETURN x {.*} }),
            kpi: k {.*},
            """
    + MEASUREMENTS_OF_K
    + """}
    ORDER BY type(r) DESC, sla.id
  } AS slas
"""
)
"""Everything a team is as a service, in one round trip (Team id constraint anchor).

Hierarchy valid at ``$at`` (several parents make a matrix), services provided (with the teams
consuming each) and consumed (with their providers), every ownership of a
step with its validity and whether it holds at ``$at``, the KPIs it is
accountable for and those shared with it, and its SLAs as PROVIDER and as
CONSUMER with the KPI tracking each; each KPI with its latest complete
measurement, the current partial one and its trend (MEASUREMENTS_OF_K).
"""


async def team_service(graph: Graph, team_id: str, at: datetime) -> dict[str, Any] | None:
    records = await graph.query(TEAM_SERVICE, teamId=team_id, at=at)
    return dict(records[0]) if records else None
