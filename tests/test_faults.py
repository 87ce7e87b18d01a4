"""Faults: the database stops while the service serves and writes, then comes back.

The first test runs its own embedded Neo4j (not the session's: it stops it) on a
fixed loopback port, serves the app with uvicorn in the test's event loop with
short driver time bounds, and keeps a reader, a writer and a bulk import busy
while the database goes away and returns on the same home and port.

The others let the service own its embedded database (no NEO4J_URI) and kill
it: SIGKILL, then the review's query that exhausts the heap, then a background
database stopped, moved to another port and killed. Nobody restarts anything
but the service's supervisor (orggraph.database.DatabaseSupervisor).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from neo4j import GraphDatabase
from neo4j.exceptions import DriverError, Neo4jError
from starlette.applications import Starlette

from orggraph.app import create_app
from orggraph.database import DatabaseSupervisor, runtime_config, supervisor_of
from orggraph.errors import OrgGraphError
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.graph.personal import personal_data
from orggraph.graph.runtime import (
    EmbeddedNeo4j,
    RuntimeConfig,
    bolt_auth,
    free_port,
    running_database,
    start_background,
    stop_background,
)
from orggraph.graph.seed import generate_customers, seed_organisation
from orggraph.settings import Settings
from tests.helpers import CACHE

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("NEO4J_URI")), reason="the service supervises only embedded databases"
)
RECOVER_S = 240.0  # generous: a JVM start on a busy 2-core machine

FAIL_FAST_S = 5.0  # a request during the outage is answered within this
IMPORT_CUSTOMERS = 1_500
IMPORT_SEED = 3
WRITER_CUSTOMER = "fault-writer"

READ = "query($id: ID!) { customer(id: $id) { id touchpoints(first: 5) { id } } }"
UPSERT = "mutation($inputs: [TouchpointInput!]!) { upsertTouchpoints(inputs: $inputs) { rows } }"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[EmbeddedNeo4j]:
    config = RuntimeConfig(
        home=tmp_path / "neo4j",
        cache_dir=CACHE,
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
async def serving(app: Starlette, start_s: float = 60) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + start_s
    while not server.started:
        assert not task.done(), "the service did not start"
        assert time.monotonic() < deadline, f"the service did not start within {start_s:.0f} s"
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
        uri,
        user,
        password,
        "neo4j",
        personal=personal_data(settings),  # the service's key: its reads open what this seals
        connection_timeout=1.0,
        max_transaction_retry_time=1.0,
    )
    expected = expected_import()
    try:
        # Migrations and the organisation first, without the service's short bounds.
        await migrate(importer)
        await seed_organisation(importer, customers=0, seed=IMPORT_SEED)
        app = create_app(settings)
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
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
                readiness = await http.get("/readyz")
                assert readiness.status_code == 503
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


# --- supervision: the service's own embedded database ------------------------------------

REVIEW_HEAP_BOMB = "WITH [x IN range(1, 30000000) | toString(x)] AS l RETURN size(l)"


def embedded_settings(home: Path) -> Settings:
    """The service's own embedded database (no NEO4J_URI), small, with short driver bounds."""
    return Settings(
        neo4j_uri=None,
        home=home,
        cache_dir=CACHE,
        neo4j_heap="512m",
        neo4j_pagecache="64m",
        neo4j_connection_timeout_s=1.0,
        neo4j_acquisition_timeout_s=2.0,
        neo4j_max_retry_time_s=1.0,
        query_timeout_s=4.0,
    )


@dataclass
class Seen:
    """What the service answered while its database was away."""

    ready: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    health: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)

    def reasons(self, database: str) -> list[str]:
        return [str(b.get("reason")) for _, b in self.health if b.get("database") == database]


async def read_code(http: httpx.AsyncClient) -> str | None:
    body = (await http.post("/graphql", json={"query": READ, "variables": {"id": "x"}})).json()
    errors = body.get("errors") or []
    return str(errors[0].get("extensions", {}).get("code")) if errors else None


async def through_an_outage(http: httpx.AsyncClient, supervisor: DatabaseSupervisor) -> Seen:
    """Poll /readyz, /healthz and a GraphQL read until the database went away and is back."""
    seen = Seen()

    async def look() -> int:
        ready = await http.get("/readyz")
        health = await http.get("/healthz")
        seen.ready.append((ready.status_code, ready.json()))
        seen.health.append((health.status_code, health.json()))
        seen.codes.append(await read_code(http))
        return ready.status_code

    restarts = supervisor.restarts

    async def gone() -> bool:
        return await look() != 200

    async def back() -> bool:
        return await look() == 200 and supervisor.restarts > restarts

    await wait_until(gone, 60, "/readyz 503 after the database died")
    await wait_until(back, RECOVER_S, "/readyz 200 after the restart")
    return seen


@embedded_only
async def test_the_service_restarts_its_embedded_database_after_sigkill_and_a_heap_bomb(
    tmp_path: Path,
) -> None:
    settings = embedded_settings(tmp_path / "home")
    app = create_app(settings)
    async with (
        serving(app, start_s=RECOVER_S) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/healthz")).json() == {"status": "ok", "database": "running"}
        supervisor = supervisor_of(app.state.orggraph.graph)
        assert supervisor is not None and supervisor.runtime is not None
        first = supervisor.database_pid
        assert first is not None

        os.kill(first, signal.SIGKILL)
        seen = await through_an_outage(http, supervisor)
        assert any("killed by signal 9" in r for r in seen.reasons("restarting")), seen.health
        assert all(status == 200 for status, _ in seen.health)  # the process itself is fine
        assert any(s == 503 and b.get("database") == "restarting" for s, b in seen.ready)
        assert "DATABASE_UNAVAILABLE" in seen.codes
        assert set(seen.codes) <= {None, "DATABASE_UNAVAILABLE"}
        assert await read_code(http) is None
        second = supervisor.database_pid
        assert second not in (None, first) and supervisor.restarts == 1

        # The review's query: an expression the memory tracker does not see fills the heap,
        # the JVM exits (-XX:+ExitOnOutOfMemoryError) and the supervisor is the last wall.
        def heap_bomb() -> str:
            with (
                GraphDatabase.driver(supervisor.uri, auth=bolt_auth(settings.home)) as driver,
                driver.session(database="neo4j") as session,
            ):
                try:
                    session.run(REVIEW_HEAP_BOMB).consume()
                except (Neo4jError, DriverError) as error:
                    return type(error).__name__
            return "answered"

        bomb = asyncio.create_task(asyncio.to_thread(heap_bomb))
        seen = await through_an_outage(http, supervisor)
        assert await bomb != "answered"
        assert any("out of heap memory" in r for r in seen.reasons("restarting")), seen.health
        assert await read_code(http) is None
        assert supervisor.database_pid not in (None, first, second) and supervisor.restarts == 2
        assert (await http.get("/healthz")).json() == {"status": "ok", "database": "running"}


@embedded_only
async def test_the_service_follows_its_background_database_and_restarts_it_when_it_dies(
    tmp_path: Path,
) -> None:
    settings = embedded_settings(tmp_path / "home")
    config = runtime_config(settings)
    first = await asyncio.to_thread(
        start_background, dataclasses.replace(config, bolt_port=free_port())
    )
    try:
        app = create_app(settings)
        async with (
            serving(app, start_s=RECOVER_S) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as http,
        ):
            supervisor = supervisor_of(app.state.orggraph.graph)
            assert supervisor is not None and supervisor.runtime is None
            assert supervisor.uri == first.bolt_uri and await read_code(http) is None

            # Stopped on purpose (`orggraph db stop`): the service waits, and says so.
            await asyncio.to_thread(stop_background, settings.home)

            async def waiting() -> bool:
                ready = await http.get("/readyz")
                body = ready.json()
                return ready.status_code == 503 and body.get("database") == "unavailable"

            await wait_until(waiting, 60, "/readyz 503 'unavailable' after `db stop`")
            health = (await http.get("/healthz")).json()
            assert health["database"] == "unavailable" and "orggraph db start" in health["reason"]
            assert await read_code(http) == "DATABASE_UNAVAILABLE"

            # Started again on another port: the service follows the state file there.
            moved = await asyncio.to_thread(
                start_background, dataclasses.replace(config, bolt_port=free_port())
            )
            assert moved.bolt_uri != first.bolt_uri

            async def followed() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_until(followed, RECOVER_S, "/readyz 200 on the moved database")
            assert supervisor.uri == moved.bolt_uri and await read_code(http) is None
            assert supervisor.restarts == 0  # it followed; it started nothing

            # Died (its state file left behind): the service starts it again, in the background.
            os.kill(moved.pid, signal.SIGKILL)
            seen = await through_an_outage(http, supervisor)
            assert any("died" in r for r in seen.reasons("restarting")), seen.health
            again = running_database(settings.home)
            assert again is not None and again.pid != moved.pid
            assert supervisor.uri == again.bolt_uri and await read_code(http) is None
    finally:
        await asyncio.to_thread(stop_background, settings.home)
