"""Hostile GraphQL documents against the served app (uvicorn on a loopback port): a
fragment bomb is refused on every transport, so cheaply that the event loop keeps
answering everyone else while bombs arrive in parallel."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from orggraph.graph.driver import Graph
from orggraph.settings import Settings
from tests.served import Served, receive, send

BOMBS = 20


def bomb(levels: int, operation: str = "query") -> str:
    """835 bytes at 20 levels: each fragment spreads the previous one twice."""
    parts = ["fragment F0 on Query { __typename }"]
    for i in range(1, levels + 1):
        parts.append(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}")
    return " ".join(parts) + f" {operation} {{ ...F{levels} }}"


@pytest.fixture
def served(test_settings: Settings, graph: Graph) -> Iterator[Served]:
    with Served(test_settings) as served:
        yield served


def code_of(body: dict[str, object]) -> object:
    return body["errors"][0]["extensions"]["code"]  # type: ignore[index]


@pytest.mark.timeout(120)
def test_a_fragment_bomb_is_refused_over_post_get_and_the_websocket(served: Served) -> None:
    text = bomb(30)
    posted = httpx.post(f"{served.url}/graphql", json={"query": text}, timeout=30)
    assert code_of(posted.json()) == "QUERY_TOO_COMPLEX"
    got = httpx.get(
        f"{served.url}/graphql",
        params={"query": text},
        headers={"GraphQL-Preflight": "1"},
        timeout=30,
    )
    assert code_of(got.json()) == "QUERY_TOO_COMPLEX"
    with served.ws() as conn:
        send(conn, {"type": "connection_init", "payload": {}})
        assert receive(conn)["type"] == "connection_ack"
        send(conn, {"id": "1", "type": "subscribe", "payload": {"query": text}})
        message = receive(conn)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def health_latency(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.get("/healthz")
    assert response.status_code == 200
    return time.perf_counter() - started


@pytest.mark.timeout(180)
async def test_health_answers_promptly_while_bombs_arrive_in_parallel(served: Served) -> None:
    text = bomb(30)
    limits = httpx.Limits(max_connections=BOMBS + 5)
    async with httpx.AsyncClient(base_url=served.url, timeout=60, limits=limits) as client:
        baseline = [await health_latency(client) for _ in range(10)]

        async def probe() -> list[float]:
            latencies = []
            for _ in range(15):
                latencies.append(await health_latency(client))
                await asyncio.sleep(0.01)
            return latencies

        async def refused() -> object:
            response = await client.post("/graphql", json={"query": text})
            return code_of(response.json())

        cpu = time.process_time()
        results = await asyncio.gather(probe(), *(refused() for _ in range(BOMBS)))
        cpu = time.process_time() - cpu
    during: list[float] = results[0]  # type: ignore[assignment]
    assert results[1:] == ["QUERY_TOO_COMPLEX"] * BOMBS
    # The refusals (and the test's own clients, same process) used little CPU: before the
    # one-pass measure, one 20-level bomb alone took 23 s.
    assert cpu < BOMBS * 0.05, cpu
    # The loop was never blocked for long: /healthz answered about as fast as before.
    assert statistics.median(during) < 0.1 + statistics.median(baseline), (baseline, during)
    assert max(during) < 1.0, during
