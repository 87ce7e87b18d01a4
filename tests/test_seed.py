"""The synthetic organisation: deterministic, shaped like the brief, idempotent, with breaches."""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.seed import (
    FOLLOW_UP_SLA_HOURS,
    generate_customer,
    generate_customers,
    seed_organisation,
)


async def rows(db: Graph, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = await db.driver.execute_query(query, params, database_=db.database)
    return [dict(r) for r in records]


async def one(db: Graph, query: str, **params: Any) -> Any:
    return (await rows(db, query, **params))[0]


def test_the_same_seed_generates_the_same_customers_whatever_the_batching() -> None:
    first = [c.model_dump() for c in (d.customer for d in generate_customers(3, 50))]
    again = [generate_customer(3, i).customer.model_dump() for i in range(50)]
    assert first == again
    journeys = [[t.model_dump() for t in d.touchpoints] for d in generate_customers(3, 50)]
    assert journeys == [
        [t.model_dump() for t in generate_customer(3, i).touchpoints] for i in range(50)
    ]
    other = [[t.model_dump() for t in d.touchpoints] for d in generate_customers(4, 50)]
    assert other != journeys


def test_journeys_vary_in_length_drop_off_along_the_funnel_and_sometimes_breach() -> None:
    data = list(generate_customers(11, 2_000))
    lengths = [len(d.touchpoints) for d in data]
    assert min(lengths) <= 3 and max(lengths) >= 25
    reached: dict[str, int] = {}
    for d in data:
        for stage in {t.step_id for t in d.touchpoints}:
            reached[stage or ""] = reached.get(stage or "", 0) + 1
    funnel = [
        reached.get(s, 0)
        for s in (
            "step-lead",
            "step-mql",
            "step-sal",
            "step-sql",
            "step-opportunity",
            "step-customer",
        )
    ]
    assert funnel[0] == 2_000
    assert all(a > b > 0 for a, b in zip(funnel, funnel[1:], strict=False))
    delays = [d.follow_up_delay_h for d in data if d.follow_up_delay_h is not None]
    breaches = sum(1 for x in delays if x > FOLLOW_UP_SLA_HOURS)
    assert 0.05 < breaches / len(delays) < 0.3
    for d in data:
        times = [t.at for t in d.touchpoints]
        assert times == sorted(times)


async def test_seeding_builds_the_organisation_of_the_brief(graph: Graph) -> None:
    lines: list[str] = []
    summary = await seed_organisation(graph, customers=300, seed=5, progress=lines.append)
    assert lines and "rows/s" in lines[-1]

    functions = await rows(
        graph,
        "MATCH (t:Team {kind: 'FUNCTION'})-[:PART_OF]->(:Team {kind: 'GROUP'}) "
        "RETURN t.function AS f ORDER BY f",
    )
    assert {r["f"] for r in functions} >= {
        "MARKETING",
        "SALES",
        "CUSTOMER_CARE",
        "OPERATIONS",
        "LOGISTICS",
        "ADMINISTRATION",
        "IT",
        "DIGITAL",
    }
    assert await one(graph, "MATCH (t:Team {kind: 'BUSINESS_UNIT'}) RETURN count(t) AS n") == {
        "n": 3
    }
    # The digital hub runs experimental processes.
    experimental = await rows(
        graph,
        "MATCH (:Team {id: 'digital-hub'})<-[:PART_OF*]-(t:Team)-[:OWNS]->(:Step)"
        "<-[:HAS_STEP]-(p:Process {lifecycle: 'EXPERIMENTAL'}) RETURN DISTINCT p.id AS id",
    )
    assert {r["id"] for r in experimental} == {"proc-chat-commerce", "proc-app-onboarding"}
    # A chat channel nobody serves, with demand.
    gap = await rows(
        graph,
        "MATCH (c:Channel) WHERE NOT (c)<-[:SERVES]-(:Team) "
        "RETURN c.kind AS kind, COUNT { (c)<-[:VIA]-(:Touchpoint) } AS demand",
    )
    assert [r["kind"] for r in gap] == ["CHAT"] and gap[0]["demand"] > 0
    # The lead-to-customer funnel, its owners over time, and the SLAs at the hand-offs.
    steps = await rows(
        graph,
        "MATCH (:Process {id: 'proc-l2c'})-[h:HAS_STEP]->(s:Step) RETURN s.stage AS stage "
        "ORDER BY h.order",
    )
    assert [r["stage"] for r in steps] == ["LEAD", "MQL", "SAL", "SQL", "OPPORTUNITY", "CUSTOMER"]
    owners = await rows(
        graph,
        "MATCH (t:Team)-[o:OWNS]->(:Step {id: 'step-mql'}) RETURN t.id AS team, "
        "toString(o.from) AS since ORDER BY o.from",
    )
    assert [r["team"] for r in owners] == ["t-demand-gen", "digital-office"]
    sla = await one(
        graph,
        "MATCH (s:SLA {kind: 'RESPONSE_TIME', threshold: 24.0})-[:PROVIDER]->(p:Team), "
        "(s)-[:CONSUMER]->(c:Team), (s)-[:GOVERNS]->(st:Step), (s)-[:TRACKED_BY]->(k:KPI) "
        "RETURN p.id AS provider, c.id AS consumer, st.stage AS stage, k.id AS kpi",
    )
    assert sla == {
        "provider": "t-demand-gen",
        "consumer": "t-inside-sales",
        "stage": "SAL",
        "kpi": "kpi-mql-follow-up",
    }
    assert await one(
        graph, "MATCH (s:SLA {kind: 'VOLUME'})-[:GOVERNS]->(st:Step) RETURN st.stage AS stage"
    ) == {"stage": "MQL"}
    shared = await one(graph, "MATCH (k:KPI)-[:SHARED_WITH]->(:Team) RETURN count(DISTINCT k) AS n")
    assert shared["n"] >= 5
    assert await one(graph, "MATCH (k:KPI) WHERE k.target IS NULL RETURN count(k) AS n") == {"n": 0}
    assert (
        await one(
            graph,
            "MATCH (:Team)-[r:PROVIDES]->(:Service)-[:CONSUMED_BY]->(:Team) RETURN count(r) AS n",
        )
    )["n"] > 0

    # Customers, touchpoints and deals as generated; each journey chained in time order.
    counts = await one(
        graph,
        "RETURN COUNT { (:Customer) } AS customers, COUNT { (:Touchpoint) } AS touchpoints, "
        "COUNT { (:Deal) } AS deals, COUNT { (:Deal {won: true}) } AS won, "
        "COUNT { ()-[:NEXT]->(:Touchpoint) } AS links",
    )
    assert counts == {
        "customers": 300,
        "touchpoints": summary.touchpoints,
        "deals": summary.deals,
        "won": summary.deals_won,
        "links": summary.touchpoints - 300,
    }
    disorder = await one(
        graph,
        "MATCH (a:Touchpoint)-[:NEXT]->(b:Touchpoint) WHERE a.at > b.at RETURN count(*) AS n",
    )
    assert disorder == {"n": 0}

    # SLA breaches, as the data defines them: first consumer-team touch > 24 h after the MQL.
    breaches = await one(
        graph,
        "MATCH (s:SLA {id: 'sla-mql-follow-up'})-[:CONSUMER]->(team:Team) "
        "MATCH (c:Customer)-[:HAD]->(m:Touchpoint)-[:AT_STEP]->(:Step {stage: 'MQL'}) "
        "CALL (c, m, team) { MATCH (c)-[:HAD]->(f:Touchpoint)-[:HANDLED_BY]->(team) "
        "  WHERE f.at > m.at RETURN f ORDER BY f.at LIMIT 1 } "
        "WITH m, f, s WHERE duration.inSeconds(m.at, f.at).seconds > s.threshold * 3600 "
        "RETURN count(*) AS n",
    )
    assert breaches == {"n": summary.follow_up_breaches}
    assert summary.follow_up_breaches > 0


async def test_seeding_again_with_the_same_seed_changes_nothing(graph: Graph) -> None:
    await seed_organisation(graph, customers=120, seed=9)
    before = await one(
        graph,
        "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes, count(r) AS rels",
    )
    again = await seed_organisation(graph, customers=120, seed=9, batch_touchpoints=333)
    after = await one(
        graph,
        "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes, count(r) AS rels",
    )
    assert after == before
    assert again.writes.nodes_created == 0
    assert again.writes.relationships_created == 0
    assert again.writes.relationships_deleted == 0
