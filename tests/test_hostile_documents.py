"""Hostile GraphQL documents against the served app (uvicorn on a loopback port): a
fragment bomb is refused on every transport before validation, and the event loop keeps
answering everyone else while bombs arrive in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema
from graphql.validation import validate as graphql_validate

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


async def healthy(client: httpx.AsyncClient) -> bool:
    response = await client.get("/healthz")
    return response.status_code == 200


@pytest.mark.timeout(180)
async def test_health_answers_while_bombs_arrive_in_parallel_and_none_is_validated(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The served app runs in this process: graphql-core's validation, whose same-name
    # comparison is the work a bomb multiplies, is recorded wherever it starts.
    validated: list[object] = []
    original = graphql_validate

    def recording(*args: object, **kwargs: object) -> object:
        validated.append(args[1])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(strawberry_schema, "validate", recording)
    text = bomb(30)
    limits = httpx.Limits(max_connections=BOMBS + 5)
    async with httpx.AsyncClient(base_url=served.url, timeout=60, limits=limits) as client:

        async def probe() -> list[bool]:
            answers = []
            for _ in range(15):
                answers.append(await healthy(client))
                await asyncio.sleep(0.01)
            return answers

        async def refused() -> object:
            response = await client.post("/graphql", json={"query": text})
            return code_of(response.json())

        results = await asyncio.gather(probe(), *(refused() for _ in range(BOMBS)))
        assert results[0] == [True] * 15
        assert results[1:] == ["QUERY_TOO_COMPLEX"] * BOMBS
        assert validated == []
        # The recorder sees a document that is validated (a text no other test sends, so
        # no cache has it).
        control = "query AfterTheBombs { __typename }"
        response = await client.post("/graphql", json={"query": control})
        assert response.json() == {"data": {"__typename": "Query"}}
    assert len(validated) == 1
