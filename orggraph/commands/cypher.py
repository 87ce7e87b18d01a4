"""``orggraph cypher "MATCH ..."``: the analysts' read-only Cypher from a shell.

Same checks and limits as POST /cypher (docs/cypher.md); the shell user is the
local administrator, so personal properties come back as stored (sealed, see
docs/personal-data.md) unless ``--mask-pii`` masks them to null.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from typing import Any

from orggraph.errors import BadInputError
from orggraph.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cypher", help="run a read-only Cypher query (writes are refused)"
    )
    parser.add_argument("query", help="the Cypher query")
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter; VALUE is JSON if it parses, else a string (repeatable)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (a header row, then one row per record) or json",
    )
    parser.add_argument("--mask-pii", action="store_true", help="mask personal properties")
    parser.set_defaults(handler=cypher_command)


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise BadInputError(f"--param: expected NAME=VALUE, got {item!r}", field="param")
        try:
            params[name.strip()] = json.loads(raw)
        except ValueError:
            params[name.strip()] = raw
    return params


def render_table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def render_csv(columns: list[str], rows: list[list[Any]]) -> str:
    """RFC 4180 CSV: strings as they are, other values as JSON (null is an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if v is None else _cell(v) for v in row] for row in rows])
    return out.getvalue().rstrip("\n")


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def cypher_command(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import open_graph
    from orggraph.graph.cypher import run_read_only

    params = parse_params(args.param)

    async def run() -> int:
        async with open_graph(settings) as graph:
            result = await run_read_only(
                graph, args.query, params, settings.cypher_limits(), can_read_pii=not args.mask_pii
            )
        if args.format == "json":
            print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
            return 0
        render = render_csv if args.format == "csv" else render_table
        print(render(result.columns, result.rows))
        note = f" (truncated by {result.truncated_by})" if result.truncated else ""
        print(f"{len(result.rows)} row(s){note}", file=sys.stderr)
        return 0

    return asyncio.run(run())
