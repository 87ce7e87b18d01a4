"""The service's fixed cost per GraphQL request, in-process: ``{ __typename }`` through the
schema with every extension of the service (parse and validation caches, limits, cost,
authorization, error codes), no database touched.

    python bench/fixed_cost.py [--requests 5000]

Prints the median and p95 over batches of 100 requests, in ms per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orggraph.api import build_schema  # noqa: E402
from orggraph.context import Context  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402
from orggraph.settings import Settings  # noqa: E402

QUERY = "query Empty { __typename }"
BATCH = 100


async def measure(requests: int) -> list[float]:
    settings = Settings()
    schema = build_schema(settings)
    graph = Graph.connect("bolt://127.0.0.1:9", None, None, "neo4j")  # never connected
    per_request: list[float] = []
    try:
        for _ in range(max(1, requests // BATCH)):
            start = time.perf_counter()
            for _ in range(BATCH):
                context = Context.for_request(graph, settings)
                result = await schema.execute(QUERY, context_value=context)
                assert result.errors is None, result.errors  # noqa: S101
            per_request.append((time.perf_counter() - start) * 1000 / BATCH)
    finally:
        await graph.close()
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000)
    args = parser.parse_args()
    times = asyncio.run(measure(args.requests))[1:]  # the first batch warms the caches
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    print(f"fixed cost per request: median {statistics.median(times):.3f} ms, p95 {p95:.3f} ms")


if __name__ == "__main__":
    main()
