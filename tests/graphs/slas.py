"""A hand-built hand-off with two SLAs, shared by the SLA and explorer tests (their
expected answers are computed by hand from it).

The graph: marketing (mkt) hands MQLs (step s-mql) to sales, who take over at s-sal.
SLA "rt": sales answers within 24 h (RESPONSE_TIME, governs s-sal, source s-mql by order).
SLA "vol": marketing delivers 3 MQL customers a week (VOLUME, governs s-mql).
Judged as of 2024-03-20 00:00 over the weeks of 4, 11 and 18 March:

  customer  MQL (first ever)  sales' first touch after  verdict
  a         Mon 4  10:00      Tue 5  08:00 (22 h)       MET
  b         Tue 5  00:00      Wed 6  06:00 (30 h)       BREACHED, 6 h late (an 'ops' touch first)
  c         Wed 6  00:00      none                      BREACHED now, 14 d - 24 h = 312 h late
  d         Tue 12 00:00      Tue 12 05:00 (5 h)        MET (its second MQL on the 13th is no case)
  g         Thu 14 00:00      Thu 21 (after asOf)       BREACHED now, 6 d - 24 h = 120 h late
  e         Tue 19 12:00      none (12 h so far)        OPEN
  f         Mon 26 Feb        Mon 26 Feb 01:00          MET, before the window (5 March: no case)
"""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes


async def seed(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in ("mkt", "sales", "ops")])
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "Lead to deal"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s-mql", "name": "Score", "stage": "MQL", "processId": "p", "order": 1},
            {"id": "s-sal", "name": "Accept", "stage": "SAL", "processId": "p", "order": 2},
        ],
    )
    await upsert_nodes(
        graph,
        "SLA",
        [
            {
                "id": "rt",
                "name": "Answer MQLs in 24h",
                "kind": "RESPONSE_TIME",
                "threshold": 24,
                "unit": "hours",
                "window": "WEEK",
                "providerTeamId": "mkt",
                "consumerTeamId": "sales",
                "stepId": "s-sal",
            },
            {
                "id": "vol",
                "name": "3 MQLs a week",
                "kind": "VOLUME",
                "threshold": 3,
                "unit": "MQLs",
                "window": "WEEK",
                "providerTeamId": "mkt",
                "consumerTeamId": "sales",
                "stepId": "s-mql",
            },
        ],
    )
    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in "abcdefg"])
    tps: list[dict[str, Any]] = []

    def tp(
        customer: str, at: str, step: str | None = None, team: str | None = None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": f"{customer}-{at}",
            "at": at,
            "type": "OTHER",
            "customerId": customer,
            **({"stepId": step} if step else {}),
            **({"teamId": team} if team else {}),
        }
        tps.append(row)
        return row

    (
        tp("a", "2024-03-04T10:00:00Z", "s-mql", "mkt"),
        tp("a", "2024-03-05T08:00:00Z", "s-sal", "sales"),
    )
    tp("b", "2024-03-05T00:00:00Z", "s-mql", "mkt"), tp("b", "2024-03-05T02:00:00Z", None, "ops")
    tp("b", "2024-03-06T06:00:00Z", "s-sal", "sales")
    tp("c", "2024-03-06T00:00:00Z", "s-mql", "mkt")
    tp("d", "2024-03-12T00:00:00Z", "s-mql"), tp("d", "2024-03-12T05:00:00Z", None, "sales")
    tp("d", "2024-03-13T00:00:00Z", "s-mql")
    tp("g", "2024-03-14T00:00:00Z", "s-mql"), tp("g", "2024-03-21T00:00:00Z", "s-sal", "sales")
    tp("e", "2024-03-19T12:00:00Z", "s-mql")
    tp("f", "2024-02-26T00:00:00Z", "s-mql"), tp("f", "2024-02-26T01:00:00Z", None, "sales")
    tp("f", "2024-03-05T00:00:00Z", "s-mql")
    await upsert_nodes(graph, "Touchpoint", tps)
