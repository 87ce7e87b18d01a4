"""Every cross-silo analytic as served over HTTP against its scan reference, at one size
of the synthetic organisation; two sizes end up in one report with their ratio.

    python bench/analytics.py --touchpoints 1000000 --heap 2g --pagecache 2g \\
        --out bench/results-analytics.md
    NEO4J_URI=bolt://... NEO4J_PASSWORD=... python bench/analytics.py --touchpoints 0 \\
        --out bench/results-analytics.md --append     # the data as is, a second size

Starts an embedded Neo4j in a fresh temporary home (or uses ``NEO4J_URI``: with
``--touchpoints N`` that database is WIPED and seeded as bench/run.py does; ``0`` measures
the data as it is), starts the service (uvicorn, loopback, a child process), then for each
analytic of issue 24 (the funnel, the journey map, attribution, SLA compliance and
breaches, channel coverage): asks it once over HTTP and runs its scan reference (``SCANS``)
once through the driver, checks the answer is not empty and, where a total is cheap to
compare, that both agree; then times both, interleaved (``--runs`` each after two warm-up
rounds), so a load change on the shared machine falls on both alike. Writes a Markdown
section (served p50 / p95, scan p50 / p95, the 200 ms target); ``--append`` adds it to an
existing report and recomputes the table of the largest size against the smallest (the
1.5x target).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import run, traversals  # noqa: E402
from orggraph.graph.attribution import DEFAULT_CURRENCY, WINDOW_END, WINDOW_START  # noqa: E402
from orggraph.graph.channels import TIME_UNITS, TRUNCATE_UNIT  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402
from orggraph.graph.kpis import periods  # noqa: E402
from orggraph.graph.model import Window  # noqa: E402

# The scan reference of each family of analytics: (module, constant). The one place to
# repoint when a family's scan is renamed (e.g. to ``..._SCAN``) after its facts land.
SCANS: dict[str, tuple[str, str]] = {
    "funnel": ("orggraph.graph.processes", "VALUE_STREAM"),
    "journeyMap": ("orggraph.graph.journey_maps", "DFG_BY_CUSTOMER"),
    "attribution": ("orggraph.graph.attribution", "ATTRIBUTION_BY_CHANNEL"),
    "slaCompliance": ("tests.graphs.sla_scan", "SCAN_SLA_COMPLIANCE"),
    "slaBreaches": ("tests.graphs.sla_scan", "SCAN_SLA_BREACHES"),
    "channelCoverage": ("orggraph.graph.channels", "CHANNEL_COVERAGE_SCAN"),
}

TARGET_MS = 200.0
GROWTH_TARGET = 1.5
MAX_TOUCHPOINTS = 10_000_000
RT_SLA = "sla-mql-follow-up"
VOLUME_SLA = "sla-mql-volume"
ALL_TIME_FROM = datetime(2000, 1, 1, tzinfo=UTC)
DATA_MARKER = "<!-- analytics-data "
RATIO_MARKER = "<!-- analytics-ratio -->"

Rows = list[dict[str, Any]]


def scan_query(family: str) -> LiteralString:
    module, name = SCANS[family]
    query: LiteralString = getattr(importlib.import_module(module), name)
    return query


@dataclass
class Analytic:
    """One question: its GraphQL request, its scan's parameters, and two summaries that
    must agree (``None``: not compared) plus the size of the served answer."""

    name: str
    family: str
    graphql: str
    variables: dict[str, Any]
    scan_params: dict[str, Any]
    size: Callable[[dict[str, Any]], tuple[int, str]]
    served_total: Callable[[dict[str, Any]], Any] | None = None
    scan_total: Callable[[Rows], Any] | None = None


@dataclass
class Measured:
    analytic: Analytic
    size: int
    size_text: str
    agrees: bool | None
    served_ms: list[float] = field(default_factory=list)
    scan_ms: list[float] = field(default_factory=list)


# --- the questions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchors:
    process: str
    channel: str
    campaign: str
    segment: str
    quarter: tuple[datetime, datetime]
    as_of: datetime


async def _first(graph: Graph, query: LiteralString) -> Any:
    records = await graph.query(query)
    return records[0][0] if records else None


async def anchors(graph: Graph) -> Anchors:
    """The process with the most steps, the busiest channel and campaign (degree counts),
    the commonest segment, and the last whole quarter before now (the generator's days
    end on the day it runs)."""
    as_of = datetime.now(UTC).replace(microsecond=0)
    return Anchors(
        process=await _first(
            graph,
            "MATCH (p:Process) RETURN p.id ORDER BY COUNT { (p)-[:HAS_STEP]->() } DESC, p.id "
            "LIMIT 1",
        ),
        channel=await _first(
            graph,
            "MATCH (x:Channel) RETURN x.id ORDER BY COUNT { (x)<-[:VIA]-() } DESC, x.id LIMIT 1",
        ),
        campaign=await _first(
            graph,
            "MATCH (x:Campaign) RETURN x.id ORDER BY COUNT { (x)<-[:FROM]-() } DESC, x.id LIMIT 1",
        ),
        segment=await _first(
            graph,
            "MATCH (c:Customer) WHERE c.segment IS NOT NULL "
            "RETURN c.segment, count(*) AS n ORDER BY n DESC, c.segment LIMIT 1",
        ),
        quarter=traversals.last_quarter(as_of),
        as_of=as_of,
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


FUNNEL_GQL = (
    "query($id: ID!, $filter: FunnelFilter) { valueStream(processId: $id, filter: $filter) "
    "{ funnel { stage reached conversionFromPrevious medianSecondsToNext p90SecondsToNext } } }"
)


def funnels(a: Anchors) -> list[Analytic]:
    q_from, q_to = a.quarter

    def funnel(name: str, filter_: dict[str, Any], params: dict[str, Any]) -> Analytic:
        scan = {
            "processId": a.process,
            "at": a.as_of,
            "segment": None,
            "channelId": None,
            "campaignId": None,
            "from": None,
            "to": None,
        }
        return Analytic(
            f"funnel, {name}",
            "funnel",
            FUNNEL_GQL,
            {"id": a.process, "filter": filter_ or None},
            {**scan, **params},
            size=lambda d: _reached_size(d["valueStream"]["funnel"]),
            served_total=lambda d: [
                s["reached"] for s in d["valueStream"]["funnel"] if s["reached"]
            ],
            scan_total=lambda rows: [s["reached"] for s in rows[0]["funnel"] if s["reached"]],
        )

    return [
        funnel("all time", {}, {}),
        funnel(
            "a quarter",
            {"from": _iso(q_from), "to": _iso(q_to)},
            {"from": q_from, "to": q_to},
        ),
        funnel(f"channel {a.channel}", {"channelId": a.channel}, {"channelId": a.channel}),
        funnel(f"campaign {a.campaign}", {"campaignId": a.campaign}, {"campaignId": a.campaign}),
        funnel(f"segment {a.segment}", {"segment": a.segment}, {"segment": a.segment}),
    ]


def _reached_size(stages: Rows) -> tuple[int, str]:
    reached = sum(s["reached"] for s in stages)
    return reached, f"{len(stages)} stages, {reached:,} reached"


JOURNEY_MAP_GQL = (
    "query($by: JourneyMapKey!, $from: DateTime, $to: DateTime) { "
    "journeyMap(by: $by, from: $from, to: $to) { caseCount nodes { keys counts } "
    "edges { sources targets counts medianSeconds } } }"
)


def _edges_size(d: dict[str, Any]) -> tuple[int, str]:
    counts = d["journeyMap"]["edges"]["counts"]
    return len(counts), f"{len(counts)} edges, {sum(counts):,} transitions"


def journey_maps(a: Anchors) -> list[Analytic]:
    def journey_map(by: str, window: tuple[datetime, datetime] | None) -> Analytic:
        lo, hi = window or (None, None)
        return Analytic(
            f"journeyMap by {by}, " + ("a quarter" if window else "all time"),
            "journeyMap",
            JOURNEY_MAP_GQL,
            {"by": by, "from": lo and _iso(lo), "to": hi and _iso(hi)},
            {"by": by, "from": lo, "to": hi},
            size=_edges_size,
            served_total=lambda d: sum(d["journeyMap"]["edges"]["counts"]),
            scan_total=lambda rows: sum(r["events"] for r in rows if r["nextKey"] is not None),
        )

    return [
        *(journey_map(by, None) for by in ("TYPE", "ACTIVITY", "CHANNEL", "STEP")),
        journey_map("TYPE", a.quarter),
    ]


ATTRIBUTION_GQL = (
    "query($model: AttributionModel!, $from: DateTime, $to: DateTime) { "
    "attribution(model: $model, by: CHANNEL, from: $from, to: $to) { dealCount wonRevenue "
    "nonConvertingJourneys rows { key credit share removalEffect } } }"
)


def attributions(a: Anchors) -> list[Analytic]:
    def attribution(model: str, window: tuple[datetime, datetime] | None) -> Analytic:
        lo, hi = window or (WINDOW_START, WINDOW_END)
        markov = model == "MARKOV"
        return Analytic(
            f"attribution {model} by CHANNEL, " + ("a quarter" if window else "all time"),
            "attribution",
            ATTRIBUTION_GQL,
            {"model": model, "from": window and _iso(lo), "to": window and _iso(hi)},
            {
                "currency": None,
                "defaultCurrency": DEFAULT_CURRENCY,
                "markov": markov,
                "from": lo,
                "to": hi,
            },
            size=lambda d: (
                d["attribution"]["dealCount"],
                f"{d['attribution']['dealCount']:,} deals, {len(d['attribution']['rows'])} rows"
                + (
                    f", {d['attribution']['nonConvertingJourneys']:,} lost journeys"
                    if markov
                    else ""
                ),
            ),
            served_total=lambda d: (
                d["attribution"]["dealCount"],
                d["attribution"]["nonConvertingJourneys"] if markov else 0,
            ),
            scan_total=lambda rows: (
                len(rows[0]["deals"]),
                int(rows[0]["lostJourneys"] or 0) if markov else 0,
            ),
        )

    return [
        attribution(model, window)
        for window in (None, a.quarter)
        for model in ("LINEAR", "W_SHAPED", "MARKOV")
    ]


SLA_GQL = (
    "query($id: ID!, $from: DateTime!, $to: DateTime!, $period: Window, $asOf: DateTime) { "
    "slaCompliance(id: $id, from: $from, to: $to, period: $period, asOf: $asOf) { "
    "met breached open inBreachNow rate "
    "trend { periodStart cases delivered met breached open inBreachNow rate } } }"
)
BREACHES_GQL = (
    "query($from: DateTime!, $to: DateTime!, $asOf: DateTime) { "
    "slaBreaches(from: $from, to: $to, asOf: $asOf, first: 50) { totalCount edges { cursor "
    "node { sla { id } customer { id } provider { id } consumer { id } step { id } reachedAt "
    "respondedAt lateSeconds inBreachNow } } } }"
)
SLA_FIELDS = ("cases", "delivered", "met", "breached", "open", "inBreachNow")


def _sla_totals(rows: Rows) -> tuple[int, ...]:
    return tuple(sum(r[k] for r in rows) for k in SLA_FIELDS)


def _sla_size(d: dict[str, Any]) -> tuple[int, str]:
    totals = dict(zip(SLA_FIELDS, _sla_totals(d["slaCompliance"]["trend"]), strict=True))
    trend = d["slaCompliance"]["trend"]
    return (
        totals["cases"] + totals["delivered"],
        f"{len(trend)} periods, {totals['cases']:,} cases, {totals['delivered']:,} delivered",
    )


def sla_questions(a: Anchors) -> list[Analytic]:
    lo, hi = a.quarter

    def compliance(sla_id: str, window: Window, what: str) -> Analytic:
        spans = periods(lo, hi - timedelta(microseconds=1), window)
        return Analytic(
            f"slaCompliance, {what}, a quarter by {window.name.lower()}",
            "slaCompliance",
            SLA_GQL,
            {
                "id": sla_id,
                "from": _iso(lo),
                "to": _iso(hi),
                "period": window.name,
                "asOf": _iso(a.as_of),
            },
            {"slaId": sla_id, "periods": [[s, e] for s, e in spans], "asOf": a.as_of},
            size=_sla_size,
            served_total=lambda d: _sla_totals(d["slaCompliance"]["trend"]),
            scan_total=_sla_totals,
        )

    breaches = Analytic(
        "slaBreaches, all SLAs, a quarter, first 50",
        "slaBreaches",
        BREACHES_GQL,
        {"from": _iso(lo), "to": _iso(hi), "asOf": _iso(a.as_of)},
        {
            "slaId": None,
            "teamId": None,
            "inBreachNow": None,
            "asOf": a.as_of,
            "first": 50,
            "afterSla": None,
            "afterCustomer": None,
            "from": lo,
            "to": hi,
        },
        size=lambda d: (
            d["slaBreaches"]["totalCount"],
            f"{d['slaBreaches']['totalCount']:,} breaches, {len(d['slaBreaches']['edges'])} shown",
        ),
        served_total=lambda d: d["slaBreaches"]["totalCount"],
        scan_total=lambda rows: rows[0]["totalCount"],
    )
    return [
        compliance(RT_SLA, Window.WEEK, "response time"),
        compliance(VOLUME_SLA, Window.MONTH, "volume"),
        breaches,
    ]


COVERAGE_GQL = (
    "query($from: DateTime!, $to: DateTime!, $period: Window!) { "
    "channelCoverage(from: $from, to: $to, period: $period) { channel { id } touchpoints "
    "unstaffed trend { periodStart touchpoints } servingTeams { team { id } } "
    "responseTimeKpis { kpi { id } status } } }"
)


def coverages(a: Anchors) -> list[Analytic]:
    def coverage(what: str, lo: datetime, hi: datetime, window: Window) -> Analytic:
        return Analytic(
            f"channelCoverage, {what} by {window.name.lower()}",
            "channelCoverage",
            COVERAGE_GQL,
            {"from": _iso(lo), "to": _iso(hi), "period": window.name},
            {"unit": TRUNCATE_UNIT[window], "timeUnits": TIME_UNITS, "from": lo, "to": hi},
            size=lambda d: (
                sum(c["touchpoints"] for c in d["channelCoverage"]),
                f"{len(d['channelCoverage'])} channels, "
                f"{sum(c['touchpoints'] for c in d['channelCoverage']):,} touchpoints",
            ),
            served_total=lambda d: sum(c["touchpoints"] for c in d["channelCoverage"]),
            scan_total=lambda rows: sum(r["touchpoints"] for r in rows),
        )

    return [
        coverage("a quarter", *a.quarter, Window.WEEK),
        coverage("all time", ALL_TIME_FROM, a.as_of + timedelta(days=1), Window.QUARTER),
    ]


def analytics(a: Anchors) -> list[Analytic]:
    return [*funnels(a), *journey_maps(a), *attributions(a), *sla_questions(a), *coverages(a)]


# --- measuring -----------------------------------------------------------------------------


def served_call(
    client: httpx.AsyncClient, analytic: Analytic
) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def ask() -> dict[str, Any]:
        response = await client.post(
            "/graphql", json={"query": analytic.graphql, "variables": analytic.variables}
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"{analytic.name}: {body['errors']}")
        data: dict[str, Any] = body["data"]
        return data

    return ask


def scan_call(graph: Graph, analytic: Analytic) -> Callable[[], Awaitable[Rows]]:
    query = scan_query(analytic.family)

    async def scan() -> Rows:
        return [dict(r) for r in await graph.query(query, **analytic.scan_params)]

    return scan


async def measure_one(
    graph: Graph, client: httpx.AsyncClient, analytic: Analytic, runs: int, only_served: bool
) -> Measured:
    served, scan = served_call(client, analytic), scan_call(graph, analytic)
    answer = await served()
    size, size_text = analytic.size(answer)
    agrees = None
    calls: list[Callable[[], Awaitable[Any]]] = [served]
    if not only_served:
        if analytic.served_total is not None and analytic.scan_total is not None:
            agrees = analytic.served_total(answer) == analytic.scan_total(await scan())
        calls.append(scan)
    samples = await traversals.interleaved(runs, calls)
    return Measured(analytic, size, size_text, agrees, samples[0], samples[1] if calls[1:] else [])


# --- the report ----------------------------------------------------------------------------


def _p(samples: list[float], q: float) -> str:
    if not samples:
        return "-"
    return f"{statistics.median(samples) if q == 0.5 else traversals.percentile(samples, q):,.0f}"


def section(
    args: argparse.Namespace,
    machine: dict[str, str],
    size: dict[str, int],
    seeded: str,
    rows: list[Measured],
    load_after: str,
    minutes: float,
) -> str:
    label = f"{size['touchpoints']:,} touchpoints"
    lines = [
        f"## {label}",
        "",
        f"`python bench/analytics.py --touchpoints {args.touchpoints} --runs {args.runs}` "
        + (
            "against the database at NEO4J_URI"
            if os.environ.get("NEO4J_URI")
            else f"(embedded, heap {args.heap}, page cache {args.pagecache})"
        )
        + f"; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {minutes:.0f} min.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items() if k != "Node"],
        f"| load average at end | {load_after} |",
        "",
        f"Graph: {size['touchpoints']:,} touchpoints, {size['customers']:,} customers, "
        f"{size['nodes']:,} nodes, {size['relationships']:,} relationships.",
        "",
        *([f"Import: {seeded}", ""] if seeded else []),
        f"ms, {args.runs} interleaved runs of each (served over HTTP, then its scan through "
        "the driver); size: of the served answer; agrees: the served answer's totals equal "
        "the scan's (- where not compared).",
        "",
        "| analytic | size | served p50 | served p95 | scan p50 | scan p95 | scan / served "
        f"| < {TARGET_MS:.0f} ms | agrees |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        served50 = statistics.median(m.served_ms)
        ratio = f"{statistics.median(m.scan_ms) / served50:.1f}x" if m.scan_ms else "-"
        size_text = m.size_text if m.size else f"**EMPTY** ({m.size_text})"
        agrees = "-" if m.agrees is None else ("yes" if m.agrees else "**NO**")
        lines.append(
            f"| {m.analytic.name} | {size_text} | {_p(m.served_ms, 0.5)} | "
            f"{_p(m.served_ms, 0.95)} | {_p(m.scan_ms, 0.5)} | {_p(m.scan_ms, 0.95)} | {ratio} | "
            f"{'yes' if served50 < TARGET_MS else '**no**'} | {agrees} |"
        )
    met = sum(statistics.median(m.served_ms) < TARGET_MS for m in rows)
    data = {
        "touchpoints": size["touchpoints"],
        "rows": {
            m.analytic.name: [
                statistics.median(m.served_ms),
                statistics.median(m.scan_ms) if m.scan_ms else None,
            ]
            for m in rows
        },
    }
    lines += [
        "",
        f"Under {TARGET_MS:.0f} ms p50: {met} of {len(rows)}.",
        "",
        DATA_MARKER + json.dumps(data) + " -->",
        "",
    ]
    return "\n".join(lines)


def ratio_section(blocks: list[dict[str, Any]]) -> str:
    latest = {b["touchpoints"]: b for b in blocks}  # a size measured again: its last run
    small, large = latest[min(latest)], latest[max(latest)]
    growth = large["touchpoints"] / small["touchpoints"]
    lines = [
        RATIO_MARKER,
        f"## {large['touchpoints']:,} against {small['touchpoints']:,} touchpoints "
        f"({growth:.1f}x the data)",
        "",
        f"p50 at the larger size / p50 at the smaller; target (issue 24): served at most "
        f"{GROWTH_TARGET}x.",
        "",
        "| analytic | served small | served large | served ratio "
        f"| <= {GROWTH_TARGET}x | scan small | scan large | scan ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (served_small, scan_small) in small["rows"].items():
        if name not in large["rows"]:
            continue
        served_large, scan_large = large["rows"][name]
        ratio = served_large / served_small
        scan_ratio = f"{scan_large / scan_small:.1f}x" if scan_small and scan_large else "-"
        lines.append(
            f"| {name} | {served_small:,.0f} | {served_large:,.0f} | {ratio:.1f}x | "
            f"{'yes' if ratio <= GROWTH_TARGET else '**no**'} | "
            f"{'-' if scan_small is None else f'{scan_small:,.0f}'} | "
            f"{'-' if scan_large is None else f'{scan_large:,.0f}'} | {scan_ratio} |"
        )
    lines.append("")
    return "\n".join(lines)


def data_blocks(text: str) -> list[dict[str, Any]]:
    blocks = []
    for line in text.splitlines():
        if line.startswith(DATA_MARKER):
            blocks.append(json.loads(line.removeprefix(DATA_MARKER).removesuffix(" -->")))
    return blocks


def combined(previous: str | None, new_section: str) -> str:
    """The report: the earlier sections (without their ratio table), this one, and the
    ratio of the largest size to the smallest once there are two."""
    head = "# Analytics at scale: served against the scan (issue 24)\n\n"
    body = (previous or head).split(RATIO_MARKER)[0].rstrip("\n") + "\n\n" + new_section
    blocks = data_blocks(body)
    if len({b["touchpoints"] for b in blocks}) > 1:
        body += "\n" + ratio_section(blocks)
    return body


# --- the run -------------------------------------------------------------------------------


@asynccontextmanager
async def service(uri: str, work: Path) -> AsyncIterator[str]:
    """The service as bench/run.py starts it (uvicorn, one worker, loopback); its base URL."""
    port = run.free_port()
    env = run.child_env(uri)
    env["ORGGRAPH_HOME"] = str(work / "home")
    # Scans of millions of touchpoints run for longer than the interactive bound.
    env["ORGGRAPH_QUERY_TIMEOUT_S"] = "900"
    command = [sys.executable, "-m", "uvicorn", "bench.serve:app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--no-access-log"]
    with run.child(command, env, ROOT, work / "service.log") as process:
        base = f"http://127.0.0.1:{port}"
        await run.wait_http(base + "/readyz", process, work / "service.log")
        yield base


def seed_line(log: Path | None) -> str:
    """The summary line of an earlier ``orggraph seed`` (its rate included), from its log."""
    if log is None:
        return ""
    lines = [line.strip() for line in log.read_text().splitlines() if line.startswith("seed ")]
    return f"earlier `orggraph seed`: {lines[-1]}" if lines else ""


async def measure_all(graph: Graph, base: str, args: argparse.Namespace) -> list[Measured]:
    chosen = analytics(await anchors(graph))
    rows = []
    async with httpx.AsyncClient(base_url=base, timeout=1800) as client:
        for analytic in chosen:
            if args.only and not any(part in analytic.name for part in args.only.split("|")):
                continue
            m = await measure_one(graph, client, analytic, args.runs, args.no_scan)
            run.say(
                f"{m.analytic.name}: {m.size_text}; served p50 {_p(m.served_ms, 0.5)} ms, "
                f"scan p50 {_p(m.scan_ms, 0.5)} ms, agrees {m.agrees}"
            )
            rows.append(m)
    return rows


async def prepare(uri: str, work: Path, args: argparse.Namespace) -> tuple[str, dict[str, int]]:
    graph = run.connect(uri)
    try:
        seeded = seed_line(args.seed_log)
        if args.touchpoints:
            customers = max(1, round(args.touchpoints / run.TOUCHPOINTS_PER_CUSTOMER))
            run.say(f"wiping, then seeding {customers:,} customers")
            await traversals.wipe(graph)
            done = await asyncio.to_thread(run.seed, uri, customers, work / "seed.log")
            seeded = (
                f"{done.summary}; {done.seconds:,.0f} s wall, seed process peak RSS "
                f"{done.peak_rss_mb:,.0f} MiB"
            )
        await graph.query("CALL db.awaitIndexes(1800)")
        return seeded, await run.counts(graph)
    finally:
        await graph.close()


async def measure(uri: str, work: Path, args: argparse.Namespace) -> str:
    started = time.monotonic()
    seeded, size = await prepare(uri, work, args)
    run.say(f"graph: {size}")
    graph = run.connect(uri)
    try:
        machine = await run.machine(graph)
        async with service(uri, work) as base:
            rows = await measure_all(graph, base, args)
    finally:
        await graph.close()
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    minutes = (time.monotonic() - started) / 60
    return section(args, machine, size, seeded, rows, load_after, minutes)


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="orggraph-bench-analytics-"))
    run.say(f"work dir {work} (logs)")
    with run.neo4j_database(args, work) as (uri, _):
        text = asyncio.run(measure(uri, work, args))
    out = Path(args.out)
    previous = out.read_text() if args.append and out.exists() else None
    out.write_text(combined(previous, text))
    run.say(f"wrote {out}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--touchpoints", type=int, default=100_000, help="seed about this many (0: data as is)"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each, interleaved")
    parser.add_argument("--out", default="bench/results-analytics.md")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add this size to the report at --out (and the ratio of its largest to its "
        "smallest size) instead of overwriting it",
    )
    parser.add_argument(
        "--only",
        default="",
        help="only the analytics whose name has one of these texts, separated by |",
    )
    parser.add_argument("--no-scan", action="store_true", help="served only: skip the scans")
    parser.add_argument(
        "--seed-log", type=Path, help="with --touchpoints 0: an earlier seed's log, to report"
    )
    parser.add_argument("--heap", default="2g", help="embedded Neo4j heap (4g at 5M)")
    parser.add_argument("--pagecache", default="2g", help="embedded Neo4j page cache (6g at 5M)")
    args = parser.parse_args(argv)
    if not 0 <= args.touchpoints <= MAX_TOUCHPOINTS:
        parser.error(f"--touchpoints is between 0 and {MAX_TOUCHPOINTS:,}")
    return args


if __name__ == "__main__":
    main(parse())
