"""Faults: the database stops while the service serves and writes, then comes back.

This test runs its own embedded Neo4j (not the session's: it stops it) on a
fixed loopback port, serves the app with uvicorn in the test's event loop with
short driver time bounds, and keeps a reader, a writer and a bulk import busy
while the database goes away and returns on the same home and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig, free_port
from orggraph.graph.seed import generate_customers, seed_organisation

from orggraph.app import create_app
from orggraph.errors import OrgGraphError
from orggraph.settings import Settings, default_cache_dir

FAIL_FAST_S = 5.0  # a request during the outage is answered within this
IMPORT_CUSTOMERS = 1_500
IMPORT_SEED = 3
WRITER_CUSTOMER = "fault-writer"

READ = "query($id: ID!) { customer(id: $id) { id touchpoints(first: 5) { id } } }"
UPSERT = "mutation($inputs: [TouchpointInput!]!) { upsertTouchpoints(inputs: $inputs) { rows } }"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[EmbeddedNeo4j]:
    cache = Path(os.environ.get("ORGGRAPH_CACHE_DIR") or default_cache_dir())
    config = RuntimeConfig(
        home=tmp_path / "neo4j",
        cache_dir=cache,
        bolt_port=free_port(),
        heap="512m",
        pagecache="128m",
    )
    runtime = EmbeddedNeo4j(config)
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


def short_settings(database: EmbeddedNeo4j, home: Path) -> Settings:
    user, password = database.auth
    return Settings(
        neo4j_uri=database.bolt_uri,
        neo4j_user=user,
        neo4j_password=password,
        home=home,
        neo4j_connection_timeout_s=1.0,
        neo4j_acquisition_timeout_s=2.0,
        neo4j_max_retry_time_s=1.0,
        query_timeout_s=4.0,
    )


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        assert not task.done(), "the service did not start"
        assert time.monotonic() < deadline, "the service did not start within 60 s"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Outcome:
    started: float
    seconds: float
    code: str | None  # None: answered with data


@dataclass
class Client:
    """A reader or writer loop: one request at a time, every outcome kept."""

    http: httpx.AsyncClient
    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    attempted: list[str] = field(default_factory=list)

    async def request(self, query: str, variables: dict[str, Any]) -> str | None:
        began = time.monotonic()
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        errors = body.get("errors") or []
        code = errors[0].get("extensions", {}).get("code", "NO_CODE") if errors else None
        self.outcomes.append(Outcome(began, time.monotonic() - began, code))
        return code

    def successes_after(self, moment: float) -> int:
        return sum(1 for o in self.outcomes if o.started > moment and o.code is None)


async def read_loop(client: Client, stop: asyncio.Event) -> None:
    for _ in range(5_000):  # bounded; stopped by the test long before
        if stop.is_set():
            return
        await client.request(READ, {"id": WRITER_CUSTOMER})
        await asyncio.sleep(0.05)


async def write_loop(client: Client, stop: asyncio.Event) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(5_000):
        if stop.is_set():
            return
        ids = [f"fault-tp-{n}-{i}" for i in range(3)]
        rows = [
            {
                "id": tid,
                "at": (base + timedelta(seconds=3 * n + i)).isoformat(),
                "type": "EMAIL",
                "customerId": WRITER_CUSTOMER,
            }
            for i, tid in enumerate(ids)
        ]
        client.attempted.extend(ids)
        if await client.request(UPSERT, {"inputs": rows}) is None:
            client.acknowledged.extend(ids)
        await asyncio.sleep(0.05)


async def wait_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{what} not within {seconds:.0f} s"
        await asyncio.sleep(0.1)


async def scalar(graph: Graph, query: Any, **params: Any) -> Any:
    return (await graph.query(query, **params))[0][0]


def expected_import() -> dict[str, int]:
    """What the interrupted import must leave once re-run: computed from the generator."""
    data = list(generate_customers(IMPORT_SEED, IMPORT_CUSTOMERS))
    tps = [t for c in data for t in c.touchpoints]
    return {
        "customers": len(data),
        "touchpoints": len(tps),
        "deals": sum(len(c.deals) for c in data),
        "HAD": sum(1 for t in tps if t.customer_id),
        "VIA": sum(1 for t in tps if t.channel_id),
        "FROM": sum(1 for t in tps if t.campaign_id),
        "AT_STEP": sum(1 for t in tps if t.step_id),
        "HANDLED_BY": sum(1 for t in tps if t.team_id) + sum(1 for t in tps if t.person_id),
        "NEXT": sum(max(0, len(c.touchpoints) - 1) for c in data),
    }


IMPORTED_COUNTS: Any = """
MATCH (t:Touchpoint) WHERE t.id STARTS WITH $prefix
WITH count(t) AS touchpoints, count(DISTINCT t.id) AS distinctIds
RETURN touchpoints, distinctIds,
  COUNT { MATCH (c:Customer) WHERE c.id STARTS WITH $customerPrefix } AS customers,
  COUNT { MATCH (d:Deal) WHERE d.id STARTS WITH $dealPrefix } AS deals,
  COUNT { MATCH (:Customer)-[:HAD]->(t:Touchpoint) WHERE t.id STARTS WITH $prefix } AS had,
  COUNT { MATCH (t:Touchpoint)-[:VIA]->() WHERE t.id STARTS WITH $prefix } AS via,
  COUNT { MATCH (t:Touchpoint)-[:FROM]->() WHERE t.id STARTS WITH $prefix } AS from,
  COUNT { MATCH (t:Touchpoint)-[:AT_STEP]->() WHERE t.id STARTS WITH $prefix } AS atStep,
  COUNT { MATCH (t:Touchpoint)-[:HANDLED_BY]->() WHERE t.id STARTS WITH $prefix } AS handledBy,
  COUNT { MATCH (t:Touchpoint)-[:NEXT]->(:Touchpoint) WHERE t.id STARTS WITH $prefix } AS next
"""


async def imported(graph: Graph) -> dict[str, int]:
    record = (
        await graph.query(
            IMPORTED_COUNTS,
            prefix=f"tp-{IMPORT_SEED}-",
            customerPrefix=f"c-{IMPORT_SEED}-",
            dealPrefix=f"deal-{IMPORT_SEED}-",
        )
    )[0]
    return {
        "customers": record["customers"],
        "touchpoints": record["touchpoints"],
        "deals": record["deals"],
        "HAD": record["had"],
        "VIA": record["via"],
        "FROM": record["from"],
        "AT_STEP": record["atStep"],
        "HANDLED_BY": record["handledBy"],
        "NEXT": record["next"],
        "distinct ids": record["distinctIds"],
    }


async def test_a_database_outage_fails_fast_recovers_by_itself_and_the_import_reruns_exactly(
    database: EmbeddedNeo4j, tmp_path: Path
) -> None:
    uri = database.bolt_uri or ""
    settings = short_settings(database, tmp_path / "home")
    user, password = database.auth
    importer = Graph.connect(
        uri, user, password, "neo4j", connection_timeout=1.0, max_transaction_retry_time=1.0
    )
    expected = expected_import()
    try:
        # Migrations and the organisation first, without the service's short bounds.
        await migrate(importer)
        await seed_organisation(importer, customers=0, seed=IMPORT_SEED)
        async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            reader, writer = Client(http), Client(http)
            assert (
                await writer.request(
                    'mutation { upsertCustomer(input: {id: "fault-writer", name: "W"}) { id } }',
                    {},
                )
                is None
            )
            stop = asyncio.Event()
            loops = [
                asyncio.create_task(read_loop(reader, stop)),
                asyncio.create_task(write_loop(writer, stop)),
            ]
            first_import = asyncio.create_task(
                seed_organisation(importer, IMPORT_CUSTOMERS, IMPORT_SEED, batch_touchpoints=500)
            )

            async def import_under_way() -> bool:
                assert not first_import.done(), (
                    "the import finished before the outage: make it bigger"
                )
                count = await scalar(
                    importer, "MATCH (t:Touchpoint) WHERE t.id STARTS WITH 'tp-' RETURN count(t)"
                )
                return bool(count > 0)

            await wait_until(import_under_way, 120, "the first import batch")
            assert writer.successes_after(0) > 0 and reader.successes_after(0) > 0

            # Outage.
            down = time.monotonic()
            await asyncio.to_thread(database.stop)
            stopped = time.monotonic() - down
            with pytest.raises(OrgGraphError) as failed:
                await asyncio.wait_for(first_import, 30)
            assert failed.value.code == "DATABASE_UNAVAILABLE"
            for _ in range(3):
                began = time.monotonic()
                code = await reader.request(READ, {"id": WRITER_CUSTOMER})
                assert code == "DATABASE_UNAVAILABLE"
                assert time.monotonic() - began < FAIL_FAST_S
                began = time.monotonic()
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert time.monotonic() - began < FAIL_FAST_S
            await wait_until(lambda: _has_failed_write(writer, down), 30, "a failed write")

            # The database returns on the same home and port; the service was not restarted.
            await asyncio.to_thread(database.start)
            back = time.monotonic()

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_until(ready, 60, "/readyz 200 after the restart")
            await wait_until(
                lambda: _both_succeed_after(reader, writer, back),
                60,
                "reads and writes after the restart",
            )
            stop.set()
            await asyncio.gather(*loops)

            # Every request was answered quickly, outage or not: nothing hung.
            outcomes = reader.outcomes + writer.outcomes
            slow = [
                (round(o.started - down, 1), round(o.seconds, 1), o.code)
                for o in outcomes
                if o.seconds >= FAIL_FAST_S + 3
            ]
            when = f"stopped in {stopped:.1f} s, back at {back - down:.1f} s"
            assert not slow, f"(start after the stop, seconds, code), {when}: {slow}"
            assert {o.code for o in outcomes} <= {None, "DATABASE_UNAVAILABLE"}
            assert any(o.code == "DATABASE_UNAVAILABLE" for o in reader.outcomes)

            # Acknowledged writes survived; nothing unacknowledged was half-written.
            found = await scalar(
                importer,
                "UNWIND $ids AS id MATCH (t:Touchpoint {id: id}) RETURN count(t)",
                ids=writer.acknowledged,
            )
            assert found == len(writer.acknowledged)
            stored = await scalar(
                importer, "MATCH (t:Touchpoint) WHERE t.id STARTS WITH 'fault-tp-' RETURN count(t)"
            )
            assert len(writer.acknowledged) <= stored <= len(writer.attempted)
            assert stored % 3 == 0  # one transaction per upsert: all three or none

        # The interrupted import, re-run, leaves exactly the generator's graph.
        before = await imported(importer)
        assert 0 < before["touchpoints"] < expected["touchpoints"]
        await seed_organisation(importer, IMPORT_CUSTOMERS, IMPORT_SEED, batch_touchpoints=777)
        after = await imported(importer)
        assert after == {**expected, "distinct ids": expected["touchpoints"]}
    finally:
        await importer.close()


async def _has_failed_write(writer: Client, since: float) -> bool:
    return any(o.started >= since and o.code == "DATABASE_UNAVAILABLE" for o in writer.outcomes)


async def _both_succeed_after(reader: Client, writer: Client, since: float) -> bool:
    return reader.successes_after(since) >= 3 and writer.successes_after(since) >= 3
