"""SLA compliance and breaches read from first arrivals (REACHED) against the scan they
replaced, side by side in one run.

    python bench/sla_reach.py --touchpoints 100000 --out bench/results-slas-100k.md
    NEO4J_URI=bolt://... python bench/sla_reach.py --touchpoints 0 --out ...   # data as is

Seeds the synthetic organisation like ``bench/run.py`` (same generator, same embedded
Neo4j start-up, ``--touchpoints 0`` measures the database as it is), applies the
migrations, then times, through the driver, for two windows (the last whole quarter of
the data, and all of it): slaCompliance of the response-time SLA (by week), of the
volume SLA (by month) and slaBreaches of every SLA (first 50). Three forms of each
query: the scan (tests/graphs/sla_scan.py, the reference), the REACHED query as
graph/slas.py ships it, and the same query anchored the other way (on the REACHED(at)
index when the shipped one expands the steps' REACHED, or the reverse). Their answers are
checked equal first; then the runs are interleaved (one of each form in turn), so a load
change on the shared machine hits every form alike. Writes a Markdown report.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import run, traversals  # noqa: E402
from orggraph.graph import slas  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402
from orggraph.graph.kpis import periods  # noqa: E402
from orggraph.graph.migrations import migrate  # noqa: E402
from orggraph.graph.model import Window  # noqa: E402
from tests.graphs.sla_scan import SCAN_SLA_BREACHES, SCAN_SLA_COMPLIANCE  # noqa: E402

RT_SLA = "sla-mql-follow-up"
VOLUME_SLA = "sla-mql-volume"
INDEX_HINT: LiteralString = " USING INDEX r:REACHED(at)"
ANCHORS: tuple[tuple[LiteralString, LiteralString], ...] = (
    ("MATCH (c:Customer)-[r:REACHED]->(source)", "WHERE r.at >= lo"),
    ("MATCH (c:Customer)-[r:REACHED]->(governed)", "WHERE r.at >= lo"),
)
SEEK = "DirectedRelationshipIndexSeekByRange"


def hinted(query: LiteralString) -> LiteralString:
    """The query with the REACHED(at) index hint on its REACHED anchors."""
    for match, _ in ANCHORS:
        query = query.replace(match, match + INDEX_HINT)
    return query


def unhinted(query: LiteralString) -> LiteralString:
    return query.replace(INDEX_HINT, "")


@dataclass
class Form:
    name: str
    compliance: LiteralString
    breaches: LiteralString


@dataclass
class Question:
    name: str
    run: Callable[[Graph, Form], Awaitable[Any]]


def questions(window: tuple[datetime, datetime], as_of: datetime) -> list[Question]:
    weeks = periods(window[0], window[1] - timedelta(microseconds=1), Window.WEEK)
    months = periods(window[0], window[1] - timedelta(microseconds=1), Window.MONTH)

    def compliance(sla_id: str, spans: list[tuple[datetime, datetime]]) -> Any:
        async def ask(graph: Graph, form: Form) -> Any:
            records = await graph.query(
                form.compliance, slaId=sla_id, periods=[[s, e] for s, e in spans], asOf=as_of
            )
            return [dict(r) for r in records]

        return ask

    async def breaches(graph: Graph, form: Form) -> Any:
        records = await graph.query(
            form.breaches,
            slaId=None,
            teamId=None,
            inBreachNow=None,
            asOf=as_of,
            first=50,
            afterSla=None,
            afterCustomer=None,
            **{"from": window[0], "to": window[1]},
        )
        return [dict(r) for r in records]

    return [
        Question("slaCompliance, response time, by week", compliance(RT_SLA, weeks)),
        Question("slaCompliance, volume, by month", compliance(VOLUME_SLA, months)),
        Question("slaBreaches, all SLAs, first 50", breaches),
    ]


async def anchor(graph: Graph, query: LiteralString) -> str:
    """How the plan finds the window's first arrivals: the index, or the steps' REACHED."""
    records, summary, _ = await graph.driver.execute_query(
        "EXPLAIN " + query,
        slaId=RT_SLA,
        periods=[[datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]],
        asOf=datetime(2024, 1, 2, tzinfo=UTC),
        database_=graph.database,
    )
    return "REACHED(at) index seek" if SEEK in str(summary.plan) else "steps' REACHED expanded"


async def data_span(graph: Graph) -> tuple[datetime, datetime]:
    records = await graph.query(
        "MATCH (t:Touchpoint) RETURN min(t.at).epochMillis AS lo, max(t.at).epochMillis AS hi"
    )
    lo, hi = records[0]["lo"], records[0]["hi"]
    return (
        datetime.fromtimestamp(lo / 1000, UTC),
        datetime.fromtimestamp(hi / 1000, UTC) + timedelta(milliseconds=1),
    )


async def measure(graph: Graph, args: argparse.Namespace) -> str:
    shipped = Form("REACHED (shipped)", slas.SLA_COMPLIANCE, slas.SLA_BREACHES)
    shipped_anchor = await anchor(graph, shipped.compliance)
    other = (
        Form("REACHED, steps expanded", unhinted(shipped.compliance), unhinted(shipped.breaches))
        if shipped_anchor.startswith("REACHED(at)")
        else Form("REACHED, index seek", hinted(shipped.compliance), hinted(shipped.breaches))
    )
    forms = [Form("scan (reference)", SCAN_SLA_COMPLIANCE, SCAN_SLA_BREACHES), shipped, other]
    anchors = [await anchor(graph, f.compliance) for f in forms[1:]]
    size = await run.counts(graph)
    reached = (await graph.query("MATCH ()-[r:REACHED]->() RETURN count(r)"))[0][0]
    span = await data_span(graph)
    quarter = traversals.last_quarter(span[1])
    as_of = span[1]
    lines = [
        f"# SLA compliance and breaches from REACHED, {size['touchpoints']:,} touchpoints",
        "",
        f"`python bench/sla_reach.py --touchpoints {args.touchpoints} --runs {args.runs}` "
        f"(heap {args.heap}, page cache {args.pagecache} when embedded); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in (await run.machine(graph)).items() if k != "Node"],
        "",
        f"Graph: {size['touchpoints']:,} touchpoints, {size['customers']:,} customers, "
        f"{reached:,} REACHED, {size['nodes']:,} nodes, {size['relationships']:,} "
        f"relationships. Judged as of the end of the data ({as_of:%Y-%m-%d}).",
        "",
        f"Plans (EXPLAIN): shipped query: {anchors[0]}; the other form: {anchors[1]}.",
        "",
        "p50 / p95 in ms through the driver, "
        f"{args.runs} interleaved runs each; ratio = scan p50 / form p50.",
        "",
        "| window | question | answer | "
        + " | ".join(f"{f.name} p50 / p95" for f in forms)
        + " | scan / shipped | scan / other |",
        "|---|---|---|" + "---|" * (len(forms) + 2),
    ]
    for window_name, window in (
        (f"quarter {quarter[0]:%Y-%m-%d}..{quarter[1]:%Y-%m-%d}", quarter),
        (f"all time {span[0]:%Y-%m-%d}..{span[1]:%Y-%m-%d}", span),
    ):
        for question in questions(window, as_of):
            answers = [await question.run(graph, f) for f in forms]
            same = all(a == answers[0] for a in answers[1:])
            run.say(f"{window_name}, {question.name}: answers equal: {same}")
            samples = await traversals.interleaved(
                args.runs,
                [lambda f=f, q=question: q.run(graph, f) for f in forms],  # type: ignore[misc]
            )
            p50s = [statistics.median(s) for s in samples]
            lines.append(
                f"| {window_name} | {question.name} | {describe(answers[0])}"
                + ("" if same else " **DIFFERS**")
                + " | "
                + " | ".join(
                    f"{statistics.median(s):.1f} / {traversals.percentile(s, 0.95):.1f}"
                    for s in samples
                )
                + f" | {p50s[0] / p50s[1]:.1f}x | {p50s[0] / p50s[2]:.1f}x |"
            )
            run.say(lines[-1])
    lines.append("")
    return "\n".join(lines)


def describe(answer: list[dict[str, Any]]) -> str:
    if answer and "totalCount" in answer[0]:
        return f"{answer[0]['totalCount']:,} breaches"
    cases = sum(row["cases"] for row in answer)
    delivered = sum(row["delivered"] for row in answer)
    return f"{cases:,} cases" if cases else f"{delivered:,} delivered"


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="orggraph-bench-slas-"))
    run.say(f"work dir {work} (logs)")
    with run.neo4j_database(args, work) as (uri, _):
        graph = run.connect(uri)
        try:
            if args.touchpoints:
                customers = max(1, round(args.touchpoints / run.TOUCHPOINTS_PER_CUSTOMER))
                await traversals.wipe(graph)
                run.seed(uri, customers, work / "seed.log")
            await migrate(graph)
            await graph.query("CALL db.awaitIndexes(600)")
            text = await measure(graph, args)
        finally:
            await graph.close()
    Path(args.out).write_text(text)
    run.say(f"wrote {args.out}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--touchpoints", type=int, default=100_000, help="seed about this many (0: data as is)"
    )
    parser.add_argument("--runs", type=int, default=20, help="timed runs per form and question")
    parser.add_argument("--out", default="bench/results-slas.md")
    parser.add_argument("--heap", default="2g", help="embedded Neo4j heap")
    parser.add_argument("--pagecache", default="1g", help="embedded Neo4j page cache")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
