"""A small closed-loop HTTP load generator: N clients, bounded in count and time.

Each client sends one GraphQL request, waits for the answer, sends the next;
the run stops when ``max_requests`` were sent or ``max_seconds`` passed,
whichever comes first. Only loopback URLs are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx

# (query, variables) for the next request; receives a per-run random generator.
RequestMaker = Callable[[random.Random], tuple[str, dict[str, Any]]]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"load is only sent to loopback addresses, not {host!r}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LoadResult:
    concurrency: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_ms, 0.95)

    def note_error(self, message: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = message[:300]


async def post_graphql(
    client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """POST one GraphQL request; raise RuntimeError on HTTP or GraphQL errors."""
    response = await client.post(url, json={"query": query, "variables": variables})
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    body: dict[str, Any] = response.json()
    if body.get("errors") or body.get("data") is None:
        raise RuntimeError(f"GraphQL errors: {body.get('errors')}")
    return body


async def run_load(
    url: str,
    make: RequestMaker,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int = 10,
    seed: int = 1,
) -> LoadResult:
    """``concurrency`` clients against ``url`` until ``max_requests`` or ``max_seconds``."""
    check_loopback(url)
    result = LoadResult(concurrency)
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        for _ in range(warmup):
            query, variables = make(rng)
            with contextlib.suppress(RuntimeError, httpx.HTTPError):
                await post_graphql(client, url, query, variables)
        sent = 0
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                query, variables = make(rng)
                began = time.perf_counter()
                try:
                    await post_graphql(client, url, query, variables)
                except (RuntimeError, httpx.HTTPError, ValueError) as error:
                    result.note_error(f"{type(error).__name__}: {error}")
                    continue
                result.latencies_ms.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result
