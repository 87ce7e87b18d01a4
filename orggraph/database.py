"""Where the service's Neo4j comes from, and what keeps it running.

Order of preference: ``NEO4J_URI`` (any external Neo4j: server, cluster,
Aura); else the embedded database already running in the background
(``orggraph db start``); else an embedded database started for the lifetime
of the calling command and stopped when it ends.

An external Neo4j is checked once at start-up (:func:`check_hardening`): a
WARNING is logged for each protection it lacks, start-up goes on. An embedded
database is supervised for as long as the Graph is open
(:class:`DatabaseSupervisor`, docs/database-hardening.md): when its JVM dies it
is started again with back-off, and when the background database moves to
another port the Graph follows it, its driver swapped in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, LiteralString, TypeVar

import neo4j
from neo4j.exceptions import Neo4jError

from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.graph.personal import personal_data
from orggraph.settings import Settings

if TYPE_CHECKING:
    from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


def runtime_config(settings: Settings) -> RuntimeConfig:
    from orggraph.graph.runtime import RuntimeConfig

    return RuntimeConfig(
        home=settings.home,
        cache_dir=settings.cache_dir,
        bolt_port=settings.bolt_port,
        heap=settings.neo4j_heap,
        pagecache=settings.neo4j_pagecache,
        start_timeout_s=settings.neo4j_start_timeout_s,
        transaction_memory=settings.neo4j_transaction_memory,
        transaction_memory_total=settings.neo4j_transaction_memory_total,
    )


def connect(settings: Settings, uri: str) -> Graph:
    """A Graph on ``uri``: with NEO4J_USER/NEO4J_PASSWORD for an external Neo4j, with the
    embedded database's own password (``<home>/bolt-password``) otherwise."""
    if settings.neo4j_uri:
        password = settings.neo4j_password
        user = settings.neo4j_user if password else None
        secret = password.get_secret_value() if password else None
    else:
        from orggraph.graph.runtime import bolt_auth

        user, secret = bolt_auth(settings.home)
    return Graph.connect(
        uri,
        user,
        secret,
        settings.neo4j_database,
        timeout_s=settings.query_timeout_s,
        personal=personal_data(settings),  # the key personal properties are sealed with
        connection_timeout=settings.neo4j_connection_timeout_s,
        connection_acquisition_timeout=settings.neo4j_acquisition_timeout_s,
        max_transaction_retry_time=settings.neo4j_max_retry_time_s,
    )


@contextlib.asynccontextmanager
async def open_graph(
    settings: Settings, *, apply_migrations: bool = True, record_as: str | None = None
) -> AsyncIterator[Graph]:
    """Yield a connected, migrated Graph; start (and supervise) an embedded Neo4j if needed.

    With ``record_as`` (``"orggraph serve"``), an embedded Neo4j this starts is recorded in
    ``<home>/runtime.json`` for as long as it runs, under that name: ``orggraph db status``
    shows it and the other commands (``orggraph cypher``) use it instead of starting a
    second JVM on the same store."""
    async with contextlib.AsyncExitStack() as stack:
        if settings.neo4j_uri:
            uri, supervisor = settings.neo4j_uri, None
            log.info("connecting to the Neo4j at %s", uri)
        else:
            # In a thread: the JVM takes seconds to start, and the HTTP port answers meanwhile.
            uri, supervisor = await asyncio.to_thread(_embedded, settings, stack, record_as)
        graph = connect(settings, uri)
        stack.push_async_callback(graph.close)
        log.info("waiting for Neo4j at %s to answer", uri)
        await graph.ping()
        if settings.neo4j_uri:
            await check_hardening(graph)
        if apply_migrations:
            applied = await migrate(graph)
            if applied:
                log.info("applied migrations %s", applied)
        if supervisor is not None:
            await stack.enter_async_context(supervisor.watching(graph))
        yield graph


def _embedded(
    settings: Settings, stack: contextlib.AsyncExitStack, record_as: str | None
) -> tuple[str, DatabaseSupervisor]:
    from orggraph.graph.runtime import EmbeddedNeo4j, describe, running_database

    running = running_database(settings.home)
    if running is not None:
        log.info("using %s at %s", describe(running), running.bolt_uri)
        return running.bolt_uri, DatabaseSupervisor(settings, running.bolt_uri, runtime=None)
    runtime = EmbeddedNeo4j(runtime_config(settings))
    log.info("starting the embedded Neo4j (home %s)", settings.home)
    uri = runtime.start()
    stack.callback(runtime.stop)
    supervisor = DatabaseSupervisor(settings, uri, runtime=runtime, record_as=record_as)
    supervisor.record()
    stack.callback(supervisor.forget)
    return uri, supervisor


# --- supervision --------------------------------------------------------------------

POLL_S = 0.5  # how often the supervisor looks at the database's process
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # before restart attempt 1, 2, ... (then 30 s)
STABLE_S = 60.0  # up this long: the next crash starts the back-off from its first step again

_supervisors: weakref.WeakKeyDictionary[Graph, DatabaseSupervisor] = weakref.WeakKeyDictionary()


def supervisor_of(graph: Graph) -> DatabaseSupervisor | None:
    """The supervisor of ``graph`` if it is on an embedded database opened by ``open_graph``."""
    return _supervisors.get(graph)


@dataclass
class DatabaseSupervisor:
    """Keeps an embedded database running, and the Graph's driver pointed at it.

    With ``runtime`` (a child JVM of this process): restarts it when it exits. Without
    (a background database, ``<home>/runtime.json``): follows the state file to wherever
    the database now serves, and restarts it in the background if it died (a file left
    behind by a dead process) but not if it was stopped (``orggraph db stop`` removes
    the file).
    """

    settings: Settings
    uri: str
    runtime: EmbeddedNeo4j | None
    record_as: str | None = None  # the child is recorded in <home>/runtime.json as this owner's
    state: str = "running"  # running | restarting | unavailable
    reason: str | None = None
    restarts: int = 0
    _graph: Graph | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _failures: int = 0
    _up_since: float = field(default_factory=time.monotonic)

    @property
    def healthy(self) -> bool:
        return self.state == "running"

    @property
    def database_pid(self) -> int | None:
        if self.runtime is not None:
            return self.runtime.pid
        from orggraph.graph.runtime import running_database

        running = running_database(self.settings.home)
        return running.pid if running is not None else None

    def health(self) -> dict[str, str]:
        """``{"database": state}``, with a ``reason`` when it is not running."""
        body = {"database": self.state}
        if self.reason is not None:
            body["reason"] = self.reason
        return body

    @contextlib.asynccontextmanager
    async def watching(self, graph: Graph) -> AsyncIterator[None]:
        self._graph = graph
        _supervisors[graph] = self
        task = asyncio.create_task(self._run(), name="orggraph-database-supervisor")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _supervisors.pop(graph, None)

    async def _run(self) -> None:
        watch = self._watch_child if self.runtime is not None else self._watch_background
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await watch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the supervisor must outlive any one failure
                log.exception("database supervision failed; retrying")
                self._down("unavailable", f"supervision failed: {error}")

    async def _watch_child(self) -> None:
        assert self.runtime is not None
        code = self.runtime.exit_code()
        if code is None:
            return
        self._down("restarting", f"the embedded Neo4j exited with code {code}{_exit_hint(code)}")
        log.error("%s; restarting it", self.reason)
        await self._restart(self._start_child)

    async def _watch_background(self) -> None:
        from orggraph.graph.runtime import background_crashed, running_database

        home = self.settings.home
        crashed = await asyncio.to_thread(background_crashed, home)
        running = await asyncio.to_thread(running_database, home)
        if running is not None:
            if running.bolt_uri != self.uri:
                log.warning("the background database moved to %s; following it", running.bolt_uri)
                await self._point_to(running.bolt_uri)
            if not self.healthy:
                self._up()
            return
        if crashed:
            self._down("restarting", f"the background Neo4j of {home} died")
            log.error("%s; restarting it in the background", self.reason)
            await self._restart(self._start_background)
        elif self.healthy:
            self._down(
                "unavailable",
                f"the background Neo4j of {home} is not running (stopped with `orggraph db "
                "stop`?); waiting for it to be started again (`orggraph db start`)",
            )
            log.error("%s", self.reason)

    async def _restart(self, start: Callable[[], str]) -> None:
        if time.monotonic() - self._up_since >= STABLE_S:
            self._failures = 0
        while True:
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            await asyncio.sleep(delay)
            try:
                uri = await _finish_in_thread(start)
            except Exception as error:
                from orggraph.graph.runtime import EmbeddedNeo4jError

                if not isinstance(error, EmbeddedNeo4jError):
                    raise
                self.reason = f"{self.reason}; restart attempt {self._failures} failed: {error}"
                log.error("restart attempt %s failed: %s", self._failures, error)
                continue
            await self._point_to(uri)
            self.restarts += 1
            log.warning("the embedded Neo4j is back at %s (restart %s)", uri, self.restarts)
            self._up()
            return

    def _start_child(self) -> str:
        assert self.runtime is not None
        self.forget()
        uri = self.runtime.start()
        self.record()
        return uri

    def record(self) -> None:
        """Record the child JVM (if asked to) where the other commands look for a database."""
        from orggraph.graph.runtime import record_child

        if self.runtime is not None and self.record_as is not None:
            pid, uri = self.runtime.pid, self.runtime.bolt_uri
            if pid is not None and uri is not None:
                record_child(self.settings.home, pid, uri, self.record_as)

    def forget(self) -> None:
        from orggraph.graph.runtime import forget_child

        if self.runtime is not None and self.record_as is not None:
            forget_child(self.settings.home, self.runtime.pid)

    def _start_background(self) -> str:
        from orggraph.graph.runtime import (
            EmbeddedNeo4jError,
            running_database,
            start_background,
        )

        try:
            return start_background(runtime_config(self.settings)).bolt_uri
        except EmbeddedNeo4jError:
            running = running_database(self.settings.home)  # someone else restarted it
            if running is None:
                raise
            return running.bolt_uri

    async def _point_to(self, uri: str) -> None:
        """Swap the Graph's driver for one on ``uri`` (a fresh pool, even on the same port)."""
        assert self._graph is not None
        async with self._lock:
            fresh = connect(self.settings, uri)
            old, self._graph.driver = self._graph.driver, fresh.driver
            self.uri = uri
        await old.close()

    def _down(self, state: str, reason: str) -> None:
        self.state, self.reason = state, reason

    def _up(self) -> None:
        self.state, self.reason = "running", None
        self._up_since = time.monotonic()


def _exit_hint(code: int) -> str:
    from orggraph.graph.runtime import EXIT_OUT_OF_MEMORY

    if code == EXIT_OUT_OF_MEMORY:
        return " (out of heap memory: a query allocated more than ORGGRAPH_NEO4J_HEAP holds)"
    if code < 0:
        return f" (killed by signal {-code})"
    return ""


async def _finish_in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread; if cancelled meanwhile, let it finish first (a JVM being
    started must be known to whoever stops it)."""
    future = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


# --- hardening of an external Neo4j -------------------------------------------------

HARDENING_SETTINGS: tuple[str, ...] = (
    "dbms.security.auth_enabled",
    "dbms.security.allow_csv_import_from_file_urls",
    "dbms.security.procedures.allowlist",
    "db.memory.transaction.max",
    "dbms.memory.transaction.total.max",
)

READ_SETTINGS: LiteralString = """
SHOW SETTINGS YIELD name, value
WHERE name IN $names
RETURN name, value
"""
"""The values of the settings a hardened Neo4j has (SHOW SETTINGS: Neo4j 5, Community too)."""

LOOPBACK_PROBE: LiteralString = (
    "LOAD CSV FROM 'http://127.0.0.1:1/orggraph-hardening-probe' AS line RETURN count(line)"
)
"""A URL fetch the IP block list must refuse. Neo4j 5.26 keeps that list in the internal
setting ``internal.dbms.cypher_ip_blocklist``, which SHOW SETTINGS does not show; at worst
the probe tries a TCP connection to port 1 of the database server's loopback."""

# Procedures an allow-list must not load: they read files or URLs, or run Cypher text.
DANGEROUS_PROCEDURES: tuple[str, ...] = (
    "apoc.load.json",
    "apoc.import.csv",
    "apoc.export.csv.query",
    "apoc.cypher.run",
    "apoc.cypher.runFirstColumnSingle",
    "apoc.periodic.iterate",
    "apoc.do.when",
    "apoc.trigger.add",
    "apoc.util.sleep",
    "apoc.log.stream",
    "apoc.systemdb.execute",
    "apoc.custom.declareProcedure",
)


@dataclass(frozen=True)
class Hardening:
    """What could be read of a Neo4j's protections."""

    settings: Mapping[str, str]  # SHOW SETTINGS name -> value, for HARDENING_SETTINGS
    loopback_url_blocked: bool | None  # the IP block list refused LOOPBACK_PROBE; None: unknown


def hardening_warnings(found: Hardening) -> list[str]:
    """One sentence per missing protection, saying what to set (empty: hardened)."""
    warnings: list[str] = []
    values = found.settings
    for name in HARDENING_SETTINGS:
        if name not in values:
            warnings.append(f"could not read the setting {name}: check it by hand")
    if values.get("dbms.security.auth_enabled", "true").lower() == "false":
        warnings.append("dbms.security.auth_enabled=false: anyone reaching Bolt is an admin")
    if values.get("dbms.security.allow_csv_import_from_file_urls", "false").lower() == "true":
        warnings.append(
            "dbms.security.allow_csv_import_from_file_urls=true: LOAD CSV can read the "
            "database server's files (file:///...); set it to false"
        )
    allowlist = values.get("dbms.security.procedures.allowlist")
    if allowlist is not None:
        patterns = [p.strip() for p in allowlist.strip("[]").split(",") if p.strip()]
        loaded = [
            n for n in DANGEROUS_PROCEDURES if any(fnmatch.fnmatchcase(n, p) for p in patterns)
        ]
        if loaded:
            warnings.append(
                f"dbms.security.procedures.allowlist={allowlist} loads {', '.join(loaded)} "
                "(file and URL reads, Cypher from text): list only what analysts need"
            )
    for name in ("db.memory.transaction.max", "dbms.memory.transaction.total.max"):
        if name in values and _is_zero_bytes(values[name]):
            warnings.append(
                f"{name}={values[name]} (no limit): one query can exhaust the heap; set it"
            )
    if found.loopback_url_blocked is False:
        warnings.append(
            "LOAD CSV can fetch URLs from the database server (http://127.0.0.1 was not "
            "blocked): set internal.dbms.cypher_ip_blocklist=0.0.0.0/0,::/0"
        )
    elif found.loopback_url_blocked is None:
        warnings.append("could not tell whether the IP block list refuses URL fetches")
    return warnings


def _is_zero_bytes(value: str) -> bool:
    digits = value.strip().rstrip("BbKkMmGgTtIi").strip()
    try:
        return float(digits) == 0
    except ValueError:
        return False


async def read_hardening(graph: Graph) -> Hardening:
    """Read the settings and probe the IP block list; unreadable parts are left out."""
    settings: dict[str, str] = {}
    blocked: bool | None = None
    async with graph.driver.session(
        database=graph.database, default_access_mode=neo4j.READ_ACCESS
    ) as session:
        try:
            result = await session.run(READ_SETTINGS, names=list(HARDENING_SETTINGS))
            settings = {str(r["name"]): str(r["value"]) async for r in result}
        except Neo4jError as error:
            log.warning("could not read the database's settings: %s", error.message)
        try:
            await (await session.run(LOOPBACK_PROBE)).consume()
            blocked = False
        except Neo4jError as error:
            message = str(error.message or "")
            if "blocked" in message:
                blocked = True
            elif str(error.code).endswith("ExternalResourceFailed"):
                blocked = False  # it tried to connect
    return Hardening(settings=settings, loopback_url_blocked=blocked)


async def check_hardening(graph: Graph) -> list[str]:
    """Log a WARNING for each protection the database lacks; never fails start-up."""
    try:
        warnings = hardening_warnings(await read_hardening(graph))
    except Exception as error:  # a check, not a gate
        log.warning("could not check the database's hardening: %s", error)
        return [str(error)]
    for warning in warnings:
        log.warning("the Neo4j is not hardened (docs/database-hardening.md): %s", warning)
    return warnings
