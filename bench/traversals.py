"""Latency of each end-to-end traversal: GraphQL over HTTP against the raw Cypher (the floor).

Usage (against a Neo4j you can wipe when seeding):

    NEO4J_URI=bolt://127.0.0.1:7687 python -m bench.traversals --seed-customers 10000 --runs 30

Without ``--seed-customers`` the database is used as it is (it must hold the
synthetic organisation: ``orggraph seed``). The service runs in-process under
uvicorn on a free loopback port; each traversal is requested over HTTP
``--runs`` times after warm-up, then through the same app in-process (httpx's
ASGI transport: routing, authentication wrapper, Strawberry, JSON, but no socket,
no HTTP parsing), then its Cypher is run the same number of times through the
driver in the same process. Prints p50 / p95 and the ratios of the p50s to the
raw driver, as a Markdown table. The in-process column separates what the
service costs from what the loopback client and transport cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from orggraph.app import create_app
from orggraph.graph import (
    attribution,
    channels,
    information_gaps,
    journey_maps,
    journeys,
    kpi_lineage,
    processes,
    reorg,
    slas,
    team_services,
)
from orggraph.graph.driver import Graph
from orggraph.graph.kpis import periods
from orggraph.graph.model import Window
from orggraph.graph.personal import personal_data
from orggraph.settings import Settings


@dataclass
class Case:
    name: str
    graphql: str
    variables: dict[str, Any]
    raw: Callable[[], Awaitable[Any]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(max(2, runs // 10)):
        await call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def interleaved(runs: int, calls: list[Callable[[], Awaitable[Any]]]) -> list[list[float]]:
    """Each call ``runs`` times, interleaved (drift in the machine's load falls on all of
    them alike), after two warm-up rounds; ms per run, per call."""
    samples: list[list[float]] = [[] for _ in calls]
    for round_ in range(runs + 2):
        for i, call in enumerate(calls):
            started = time.perf_counter()
            await call()
            if round_ >= 2:
                samples[i].append((time.perf_counter() - started) * 1000)
    return samples


async def pick(graph: Graph, query: Any) -> Any:
    records = await graph.query(query)
    return records[0][0] if records else None


async def cases(graph: Graph) -> list[Case]:
    now = datetime.now(UTC)
    customer = await pick(
        graph,
        "MATCH (c:Customer)-[:HAD]->(t) WITH c, count(t) AS n ORDER BY n DESC, c.id LIMIT 1 "
        "RETURN c.id",
    )
    process = await pick(
        graph,
        "MATCH (p:Process)-[:HAS_STEP]->(s:Step) WITH p, count(s) AS n ORDER BY n DESC, p.id "
        "LIMIT 1 RETURN p.id",
    )
    team = await pick(
        graph,
        "MATCH (t:Team)-[:OWNS]->() WITH t, count(*) AS n ORDER BY n DESC, t.id LIMIT 1 RETURN "
        "t.id",
    )
    kpi = await pick(
        graph,
        "MATCH (k:KPI)-[:MEASURES]->() WITH k, count(*) AS n ORDER BY n DESC, k.id LIMIT 1 RETURN "
        "k.id",
    )
    window = {"from": None, "to": None}
    target = await pick(
        graph,
        "MATCH (t:Team)-[:OWNS]->() WITH t, count(*) AS n ORDER BY n DESC, t.id SKIP 1 LIMIT 1 "
        "RETURN t.id",
    )
    attribution_gql = (
        "query($model: AttributionModel!) { attribution(model: $model, by: CHANNEL) { dealCount "
        "wonRevenue unattributedRevenue rows { key name credit share deals removalEffect } } }"
    )

    def attribution_raw(markov: bool) -> Callable[[], Awaitable[Any]]:
        return lambda: attribution.attribution_data(
            graph,
            attribution.Dimension.CHANNEL,
            window_from=None,
            window_to=None,
            currency=None,
            markov=markov,
        )

    return [
        Case(
            "journey (longest customer, first 50)",
            "query($id: ID!) { journey(customerId: $id, first: 50) { furthestStage steps { "
            "totalCount "
            "edges { node { touchpoint { id at type } channel { id } step { id } sincePrevious } "
            "} } deals { id } } }",
            {"id": customer},
            lambda: journeys.customer_journey(
                graph, customer, after=None, first=50, window_from=None, window_to=None
            ),
        ),
        Case(
            "valueStream + funnel",
            "query($id: ID!) { valueStream(processId: $id) { steps { step { id } owners { team { "
            "id } } } "
            "handoffs { toStep { id } slas { id } } funnel { stage reached conversionFromPrevious "
            "medianSecondsToNext p90SecondsToNext } } }",
            {"id": process},
            lambda: processes.value_stream(graph, process, now, processes.FunnelParams()),
        ),
        Case(
            "journeyMap by TYPE (all customers)",
            "{ journeyMap(by: TYPE) { caseCount nodes { keys counts } edges { sources targets "
            "counts medianSeconds } } }",
            {},
            lambda: graph.query(journey_maps.DFG_BY_CUSTOMER, by="TYPE", minEdgeCount=1, **window),
        ),
        Case(
            "teamService",
            "query($id: ID!) { teamService(teamId: $id) { provides { service { id } teams { id } } "
            "ownedSteps { step { id } current } kpis { kpi { id } status } slas { sla { id } "
            "compliance } } }",
            {"id": team},
            lambda: team_services.team_service(graph, team, now),
        ),
        Case(
            "kpiLineage",
            "query($id: ID!) { kpiLineage(kpiId: $id) { status steps { id } feedingTeams { id } "
            "touchpointsBehindLatest series { value } } }",
            {"id": kpi},
            lambda: kpi_lineage.kpi_lineage(graph, kpi, now, 100),
        ),
        Case(
            "attribution W_SHAPED by CHANNEL (all won deals)",
            attribution_gql,
            {"model": "W_SHAPED"},
            attribution_raw(False),
        ),
        Case(
            "attribution MARKOV by CHANNEL (all journeys)",
            attribution_gql,
            {"model": "MARKOV"},
            attribution_raw(True),
        ),
        Case(
            "reorgImpact + merge what-if",
            "query($id: ID!, $to: ID) { reorgImpact(teamId: $id, moveTo: $to) { ownedSteps { step "
            "{ id } } "
            "fedKpis { kpi { id } } slas { sla { id } } customersInFlight inFlightByStep { "
            "customers } "
            "whatIf { handoffsRemoved { fromStep { id } } slaChanges { becomesInternal } } } }",
            {"id": team, "to": target},
            lambda: reorg.reorg_impact(graph, team, target, now, 20),
        ),
        *analytics_cases(graph, now),
    ]


def last_quarter(end: datetime) -> tuple[datetime, datetime]:
    """The last whole calendar quarter before ``end``."""
    start = datetime(end.year, 3 * ((end.month - 1) // 3) + 1, 1, tzinfo=UTC)
    year, month = (start.year, start.month - 3) if start.month > 3 else (start.year - 1, 10)
    return datetime(year, month, 1, tzinfo=UTC), start


def analytics_cases(graph: Graph, now: datetime) -> list[Case]:
    """The synthetic organisation's SLAs and coverage over the last whole quarter of its
    700 days of journeys (the generator's days end on the day it runs)."""
    quarter = last_quarter(now)
    window = {"from": quarter[0].isoformat(), "to": quarter[1].isoformat()}
    weeks = periods(quarter[0], quarter[1] - timedelta(microseconds=1), Window.WEEK)
    months = periods(quarter[0], quarter[1] - timedelta(microseconds=1), Window.MONTH)
    return [
        Case(
            "slaCompliance (response time, a quarter by week)",
            'query($from: DateTime!, $to: DateTime!) { slaCompliance(id: "sla-mql-follow-up", '
            "from: $from, to: $to, period: WEEK) { met breached open inBreachNow rate "
            "trend { periodStart met breached open rate } } }",
            window,
            lambda: slas.sla_compliance(graph, "sla-mql-follow-up", weeks, now),
        ),
        Case(
            "slaCompliance (volume, a quarter by month)",
            'query($from: DateTime!, $to: DateTime!) { slaCompliance(id: "sla-mql-volume", '
            "from: $from, to: $to) { met breached rate trend { periodStart delivered met } } }",
            window,
            lambda: slas.sla_compliance(graph, "sla-mql-volume", months, now),
        ),
        Case(
            "slaBreaches (all SLAs, a quarter, first 50)",
            "query($from: DateTime!, $to: DateTime!) { "
            "slaBreaches(from: $from, to: $to, first: 50) { totalCount edges { cursor node { "
            "sla { id } customer { id } provider { id } "
            "consumer { id } step { id } reachedAt respondedAt lateSeconds inBreachNow } } } }",
            window,
            lambda: slas.sla_breaches(
                graph,
                sla_id=None,
                team_id=None,
                window_from=quarter[0],
                window_to=quarter[1],
                in_breach_now=None,
                as_of=now,
                first=50,
                after=None,
            ),
        ),
        Case(
            "channelCoverage (a quarter by week)",
            "query($from: DateTime!, $to: DateTime!) { "
            "channelCoverage(from: $from, to: $to, period: WEEK) { channel { id } touchpoints "
            "unstaffed trend { periodStart touchpoints } "
            "servingTeams { team { id } } responseTimeKpis { kpi { id } status } } }",
            window,
            lambda: channels.channel_coverage(graph, quarter[0], quarter[1], Window.WEEK),
        ),
        Case(
            "informationGaps",
            "{ informationGaps { unseen { team { id } kpi { id } steps { id } } "
            "detached { kpi { id } accountable { id } owners { id } } } }",
            {},
            lambda: information_gaps.information_gaps(graph, now),
        ),
    ]


async def measure(
    graph: Graph, base_url: str, runs: int
) -> list[tuple[str, list[float], list[float]]]:
    """Each case over HTTP against a running service at ``base_url``, then its raw Cypher:
    (name, HTTP latencies ms, driver latencies ms). Used by bench/run.py."""
    rows: list[tuple[str, list[float], list[float]]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for case in await cases(graph):

            async def over_http(case: Case = case) -> None:
                response = await client.post(
                    "/graphql", json={"query": case.graphql, "variables": case.variables}
                )
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(f"{case.name}: {body['errors']}")

            rows.append((case.name, await timed(runs, over_http), await timed(runs, case.raw)))
    return rows


def _poster(client: httpx.AsyncClient, case: Case) -> Callable[[], Awaitable[None]]:
    async def post() -> None:
        response = await client.post(
            "/graphql", json={"query": case.graphql, "variables": case.variables}
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"{case.name}: {body['errors']}")

    return post


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wipe(graph: Graph) -> None:
    """Delete everything but the migration records, then migrate (the benches' fresh graph)."""
    from orggraph.graph.migrations import migrate

    async with graph.driver.session(database=graph.database) as session:
        result = await session.run(
            "MATCH (n) WHERE NOT n:Migration CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF "
            "10000 ROWS"
        )
        await result.consume()
    await migrate(graph)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--seed-customers", type=int, default=0, help="wipe, then seed this many customers"
    )
    parser.add_argument(
        "--only", default="", help="measure only the traversals whose name contains this text"
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="instead: each traversal in-process with metrics, tracing and the request log "
        "off, then on (spans to an in-memory exporter), side by side",
    )
    args = parser.parse_args()

    password = os.environ.get("NEO4J_PASSWORD")
    graph = Graph.connect(
        args.uri,
        os.environ.get("NEO4J_USER", "neo4j") if password else None,
        password,
        "neo4j",
        personal=personal_data(Settings()),  # the seed writes (sealed) emails
    )
    if args.seed_customers:
        from orggraph.graph.seed import seed_organisation

        await wipe(graph)
        await seed_organisation(graph, args.seed_customers, 1)
    touchpoints = await pick(graph, "MATCH (t:Touchpoint) RETURN count(t)")
    if args.observability:
        try:
            await observability_overhead(graph, args, touchpoints)
        finally:
            await graph.close()
        return

    port = free_port()
    app = create_app(Settings(neo4j_uri=args.uri), graph=graph)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)

    print(f"{touchpoints:,} touchpoints, {args.runs} runs each (ms)\n")
    print("GraphQL: over HTTP on loopback (client, TCP, uvicorn included); in-process: the same")
    print("request through the whole ASGI app without a socket (the service's own cost).\n")
    print(
        "| traversal | GraphQL p50 | GraphQL p95 | in-process p50 | raw p50 | raw p95 | p50 ratio "
        "| in-process ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=120
            ) as local,
        ):
            for case in await cases(graph):
                if args.only not in case.name:
                    continue
                http = await timed(args.runs, _poster(client, case))
                asgi = await timed(args.runs, _poster(local, case))
                raw = await timed(args.runs, case.raw)
                p50, asgi50, raw50 = (
                    statistics.median(http),
                    statistics.median(asgi),
                    statistics.median(raw),
                )
                print(
                    f"| {case.name} | {p50:.1f} | {percentile(http, 0.95):.1f} | {asgi50:.1f} | "
                    f"{raw50:.1f} | "
                    f"{percentile(raw, 0.95):.1f} | {p50 / raw50:.2f} | {asgi50 / raw50:.2f} |"
                )
    finally:
        server.should_exit = True
        await serving
        await graph.close()


async def observability_overhead(graph: Graph, args: argparse.Namespace, touchpoints: int) -> None:
    """In-process p50 of each traversal with observability off, with metrics and the
    request log, and with spans too, in one run."""
    import contextlib

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    quiet = Settings(neo4j_uri=args.uri, metrics=False, access_log=False)
    loud = quiet.model_copy(update={"metrics": True, "access_log": True})
    apps = [
        create_app(quiet, graph=graph),
        create_app(loud, graph=graph),
        create_app(loud, graph=graph, tracer_provider=provider),
    ]
    print(f"{touchpoints:,} touchpoints, {args.runs} runs each, in-process p50 (ms)\n")
    print("| traversal | all off | metrics + log line | + spans | ratio metrics | ratio all |")
    print("|---|---|---|---|---|---|")
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(
                transport=transport, base_url="http://localhost", timeout=120
            )
            clients.append(await stack.enter_async_context(client))
        for case in await cases(graph):
            if args.only not in case.name:
                continue
            samples: list[list[float]] = [[] for _ in clients]
            for _ in range(args.runs):  # interleaved, so drift in the machine's load cancels
                for client, taken in zip(clients, samples, strict=True):
                    taken += await timed(1, _poster(client, case))
            off, metrics, traced = (statistics.median(taken) for taken in samples)
            print(
                f"| {case.name} | {off:.2f} | {metrics:.2f} | {traced:.2f} | "
                f"{metrics / off:.2f} | {traced / off:.2f} |"
            )


if __name__ == "__main__":
    asyncio.run(main())
