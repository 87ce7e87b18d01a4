"""The touchpoint write path against the one before any derived fact of issue 24, side by side.

    python bench/write_floor.py --baseline-python BASE/.venv/bin/python \\
        --touchpoints 100000 --out bench/results-write-floor-100k.md

where BASE is a checkout of the commit before the facts, installed in its own
virtual environment (bench/README.md gives the three commands). Starts an embedded
Neo4j in a fresh temporary home and seeds it as bench/run.py does (or uses
``NEO4J_URI`` with ``--touchpoints 0``: it writes into the data as it is), then
alternates rounds of bench/write_round.py run by this checkout's interpreter and by
the baseline's: the same rows, the sides' order swapped every round, each round a
child process whose writes alone are timed. A first round per side is not counted
(plans, JIT). The rate ratio (this / baseline) is the
issue's floor: at least 0.75.

The baseline does not keep the newer facts, so its rounds leave them drifted: run
``orggraph db rebuild-derived`` before using the database for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dfg_facts import load_average  # noqa: E402
from bench.run import TOUCHPOINTS_PER_CUSTOMER, connect, counts, neo4j_database, say, seed  # noqa: E402

ROUND = Path(__file__).resolve().parent / "write_round.py"
KINDS = {
    "live": "new touchpoints after each journey's end (appended)",
    "late": "late touchpoints inside journeys (inserted; rebuilt before)",
}


@dataclass
class Side:
    python: str
    seconds: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in KINDS})
    rows: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    rates: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def rate(self, kind: str) -> float:
        return self.rows[kind] / self.seconds[kind] if self.seconds[kind] else 0.0


def one_round(
    python: str, uri: str, kind: str, prefix: str, args: argparse.Namespace, seed_: int
) -> dict[str, float]:
    env = dict(os.environ, NEO4J_URI=uri)
    env.pop("PYTHONPATH", None)  # each interpreter imports its own orggraph
    done = subprocess.run(
        [
            python,
            str(ROUND),
            "--kind",
            kind,
            "--prefix",
            prefix,
            "--batches",
            str(args.batches),
            "--batch",
            str(args.batch),
            "--seed",
            str(seed_),
        ],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} {kind} round failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rounds(uri: str, args: argparse.Namespace) -> dict[str, Side]:
    sides = {"this": Side(sys.executable), "baseline": Side(args.baseline_python)}
    for number in range(args.rounds + 1):
        order = ["this", "baseline"] if number % 2 == 0 else ["baseline", "this"]
        for kind in KINDS:
            for name in order:
                side = sides[name]
                # Both sides write the same rows (same seed), under their own ids.
                result = one_round(
                    side.python, uri, kind, f"wf{number}-{name}-{kind}", args, number
                )
                if number == 0:
                    continue  # warm-up
                side.seconds[kind] += result["seconds"]
                side.rows[kind] += int(result["rows"])
                side.rates[kind].append(result["rows"] / result["seconds"])
        say(f"  round {number}/{args.rounds} done" + (" (warm-up)" if number == 0 else ""))
    return sides


def report(
    args: argparse.Namespace,
    graph_size: dict[str, int],
    sides: dict[str, Side],
    loads: tuple[str, str],
) -> str:
    customers, touchpoints = graph_size.get("customers", 0), graph_size.get("touchpoints", 0)
    lines = [
        "# Touchpoint writes against the write path before the derived facts "
        f"({touchpoints:,} touchpoints)",
        "",
        f"`python bench/write_floor.py --touchpoints {args.touchpoints} --rounds {args.rounds} "
        f"--batches {args.batches} --batch {args.batch}`; baseline: `{args.baseline_label}`.",
        "",
        f"Graph: {customers:,} customers, {touchpoints:,} touchpoints. "
        f"Load average before: {loads[0]}; after: {loads[1]} "
        "(2 cores shared with other work: the ratios are what counts).",
        "",
        f"{args.rounds} rounds per side after a warm-up, sides alternating; "
        f"each round {args.batches} batches of {args.batch} touchpoints, "
        "one transaction each (`upsert_nodes`).",
        "",
        "| rows | this (rows/s) | baseline (rows/s) | ratio | per-round ratios |",
        "|---|---:|---:|---:|---|",
    ]
    for kind, title in KINDS.items():
        this, base = sides["this"], sides["baseline"]
        ratio = this.rate(kind) / base.rate(kind) if base.rate(kind) else 0.0
        per_round = ", ".join(
            f"{a / b:.2f}" for a, b in zip(this.rates[kind], base.rates[kind], strict=True)
        )
        rates = f"{this.rate(kind):,.0f} | {base.rate(kind):,.0f}"
        lines.append(f"| {title} | {rates} | **{ratio:.2f}** | {per_round} |")
    lines += ["", "The issue's floor: at least 0.75x.", ""]
    return "\n".join(lines)


async def size(uri: str) -> dict[str, int]:
    graph = connect(uri)
    try:
        return await counts(graph)
    finally:
        await graph.close()


def main(args: argparse.Namespace) -> None:
    if os.environ.get("NEO4J_URI") and args.touchpoints:
        raise SystemExit(
            "with NEO4J_URI give --touchpoints 0: this script does not wipe a database"
        )
    with tempfile.TemporaryDirectory(prefix="orggraph-write-floor-") as tmp:
        work = Path(tmp)
        with neo4j_database(args, work) as (uri, _pid):
            if args.touchpoints:
                seed(
                    uri,
                    max(1, round(args.touchpoints / TOUCHPOINTS_PER_CUSTOMER)),
                    work / "seed.log",
                )
            before = load_average(os.getloadavg())
            sides = rounds(uri, args)
            after = load_average(os.getloadavg())
            text = report(args, asyncio.run(size(uri)), sides, (before, after))
    Path(args.out).write_text(text)
    print(text)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline-python", required=True, help="the baseline checkout's interpreter"
    )
    parser.add_argument(
        "--baseline-label", default="the commit before the facts", help="named in the report"
    )
    parser.add_argument("--touchpoints", type=int, default=100_000, help="0: the data as it is")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="1g")
    parser.add_argument("--out", default="bench/results-write-floor.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse())
