"""A lead-to-deal process with hand-placed touchpoints, shared by the funnel, KPI,
explorer and event tests (their expected answers are computed by hand from it).

Teams mkt, sales and presales; process p (LEAD -> MQL -> SAL -> SQL, steps s1..s4,
with hand-offs and an SLA) and another process; customers c1..c4 (and
``extra_customers`` more) with touchpoints at offsets of ``H`` (one hour) from
2024-03-01, ``at(seconds)`` turning an offset into an ISO datetime.
"""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships

H = 3600


def at(seconds: int) -> str:
    day, rest = divmod(seconds, 86400)
    return f"2024-03-{1 + day:02}T{rest // 3600:02}:{rest % 3600 // 60:02}:{rest % 60:02}Z"


async def seed(graph: Graph, extra_customers: int = 0) -> None:
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in ("mkt", "sales", "presales")])
    await upsert_nodes(
        graph, "Process", [{"id": "p", "name": "Lead to deal"}, {"id": "other", "name": "Other"}]
    )
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s1", "name": "Capture", "stage": "LEAD", "processId": "p", "order": 1},
            {"id": "s2", "name": "Score", "stage": "MQL", "processId": "p", "order": 2},
            {"id": "s3", "name": "Qualify", "stage": "SQL", "processId": "p", "order": 3},
            {"id": "s4", "name": "Propose", "stage": "OPPORTUNITY", "processId": "p", "order": 4},
            {"id": "o1", "name": "Elsewhere", "stage": "LEAD", "processId": "other", "order": 1},
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "mkt", "to": "s1"},
            {"from": "mkt", "to": "s2"},
            {"from": "sales", "to": "s3"},
            {"from": "sales", "to": "s4", "properties": {"to": "2024-01-01T00:00:00Z"}},
            {"from": "presales", "to": "s4", "properties": {"from": "2024-01-01T00:00:00Z"}},
        ],
    )
    await upsert_nodes(
        graph,
        "SLA",
        [{"id": "sla-followup", "name": "Follow up MQLs in 4h", "threshold": 4, "stepId": "s3"}],
    )
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
        ],
    )
    await upsert_nodes(
        graph,
        "Customer",
        [
            {"id": "c1", "name": "c1", "segment": "SMB"},
            {"id": "c2", "name": "c2", "segment": "SMB"},
            {"id": "c3", "name": "c3", "segment": "ENT"},
            {"id": "c4", "name": "c4", "segment": "ENT"},
        ],
    )
    tps: list[dict[str, Any]] = []

    def tp(customer: str, step: str, seconds: int, channel: str = "web") -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": f"{customer}-{step}-{seconds}",
            "at": at(seconds),
            "type": "OTHER",
            "customerId": customer,
            "stepId": step,
            "channelId": channel,
        }
        tps.append(row)
        return row

    tp("c1", "s1", 0), tp("c1", "s2", 1 * H), tp("c1", "s3", 3 * H), tp("c1", "s4", 27 * H)
    tp("c1", "s1", 20 * H)  # a later LEAD touchpoint: the first one counts
    tp("c1", "o1", 0)  # another process's step: not this funnel
    tp("c2", "s1", 0), tp("c2", "s2", 2 * H), tp("c2", "s3", 5 * H)
    tp("c3", "s1", 0), tp("c3", "s2", 4 * H)
    tp("c4", "s1", 0, "phone")
    for i in range(extra_customers):
        await upsert_nodes(graph, "Customer", [{"id": f"x{i}", "name": "x", "segment": "NONE"}])
        tp(f"x{i}", "s1", 0)
    await upsert_nodes(graph, "Touchpoint", tps)
