"""The one door to Neo4j.

Every query of the service runs through :class:`Graph`, inside a managed
transaction function (retried by the driver on transient errors), with the
database named explicitly and transaction metadata saying who asked. It also
counts round trips, so tests can prove a GraphQL request is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, LiteralString, TypeVar

import neo4j
from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction
from neo4j.exceptions import (
    ClientError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from orggraph.errors import (
    BadInputError,
    ConflictError,
    DatabaseUnavailableError,
    InternalError,
    OrgGraphError,
)
from orggraph.graph.model import ENTITY_LABEL
from orggraph.graph.personal import PersonalData

log = logging.getLogger(__name__)
T = TypeVar("T")

PING: LiteralString = "RETURN 1"
"""The health check's query (``Graph.ping``)."""


@dataclass
class QueryLog:
    """Queries sent to the database while it is active (see ``Graph.recording``), and
    the time spent waiting for their answers."""

    queries: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.queries)


_active_logs: contextvars.ContextVar[tuple[QueryLog, ...]] = contextvars.ContextVar(
    "orggraph_query_logs", default=()
)
_tx_metadata: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "orggraph_tx_metadata", default=MappingProxyType({})
)
# Opens a span around one query (the app's OpenTelemetry tracer when tracing is on);
# graph/ stays free of the tracing library: it only calls what it is given.
QuerySpans = Callable[[str], contextlib.AbstractContextManager[Any]]
_query_spans: contextvars.ContextVar[QuerySpans | None] = contextvars.ContextVar(
    "orggraph_query_spans", default=None
)


ID_ANCHORED: list[LiteralString] = []
"""Every statement made with :func:`id_anchored` (tests check that each plan is stable)."""


def id_anchored(query: LiteralString) -> LiteralString:
    """``query``, recorded as a write statement whose every node is found by a unique id
    (a unique index seek) or by expanding from one: ``tests/test_tracking.py`` plans each
    of them (``EXPLAIN``) and refuses scans, hash joins and cartesian products.

    Keeping their first plan (``CYPHER replan=skip``) was tried, since replanning them
    while a graph grows costs processor time, and withdrawn: a plan made while the graph
    was empty (no customers yet) may start from a label scan, and would then be kept
    for the life of the database (a suite run hung 10 minutes in a write, most likely
    on such a plan)."""
    ID_ANCHORED.append(query)
    return query


@contextlib.contextmanager
def recording() -> Iterator[QueryLog]:
    """Record every query run in this context (and tasks it spawns)."""
    log_ = QueryLog()
    token = _active_logs.set((*_active_logs.get(), log_))
    try:
        yield log_
    finally:
        _active_logs.reset(token)


def current_metadata() -> dict[str, Any]:
    """The transaction metadata of this context (see ``transaction_metadata``)."""
    return dict(_tx_metadata.get())


@contextlib.contextmanager
def transaction_metadata(**metadata: Any) -> Iterator[None]:
    """Tag transactions started in this context (visible in SHOW TRANSACTIONS)."""
    token = _tx_metadata.set({**_tx_metadata.get(), **metadata})
    try:
        yield
    finally:
        _tx_metadata.reset(token)


@contextlib.contextmanager
def tracing_queries(spans: QuerySpans | None) -> Iterator[None]:
    """Run each query of this context inside ``spans(query)`` (None: no spans)."""
    token = _query_spans.set(spans)
    try:
        yield
    finally:
        _query_spans.reset(token)


def note_query(query: str) -> None:
    for query_log in _active_logs.get():
        query_log.queries.append(query)


@contextlib.contextmanager
def _sent(query: str) -> Iterator[None]:
    """One query's round trip: counted, timed, and in a span when tracing."""
    note_query(query)
    spans = _query_spans.get()
    started = time.perf_counter()
    try:
        with spans(query) if spans is not None else contextlib.nullcontext():
            yield
    finally:
        took = time.perf_counter() - started
        for query_log in _active_logs.get():
            query_log.seconds += took


class Tx:
    """A managed transaction that counts the queries it runs.

    ``personal`` is its Graph's codec: write paths seal personal values with it."""

    def __init__(self, tx: AsyncManagedTransaction, personal: PersonalData | None = None) -> None:
        self._tx = tx
        self.personal = personal

    async def records(self, query: LiteralString, **params: Any) -> list[neo4j.Record]:
        with _sent(query):
            result = await self._tx.run(query, params)
            return [record async for record in result]

    async def single(self, query: LiteralString, **params: Any) -> neo4j.Record | None:
        records = await self.records(query, **params)
        return records[0] if records else None

    async def records_and_counters(
        self, query: LiteralString, **params: Any
    ) -> tuple[list[neo4j.Record], neo4j.SummaryCounters]:
        """The records of a statement that also writes, and what it wrote."""
        with _sent(query):
            result = await self._tx.run(query, params)
            records = [record async for record in result]
            summary = await result.consume()
            return records, summary.counters

    async def run(self, query: LiteralString, **params: Any) -> neo4j.SummaryCounters:
        with _sent(query):
            result = await self._tx.run(query, params)
            summary = await result.consume()
            return summary.counters


class Graph:
    """Async access to one Neo4j database."""

    def __init__(
        self,
        driver: AsyncDriver,
        database: str,
        timeout_s: float | None = None,
        retry_time_s: float = 30.0,
        personal: PersonalData | None = None,
        timeout_setting: str = "ORGGRAPH_QUERY_TIMEOUT_S",
    ) -> None:
        self.driver = driver
        self.database = database
        # Seals and opens personal properties (graph.personal); None: none may be written.
        self.personal = personal
        # How long a read is retried on transient failures (the driver's
        # max_transaction_retry_time does the same for transaction functions).
        self.retry_time_s = retry_time_s
        # Bound on one unit of work, retries included: a database that accepts
        # connections but does not answer (starting, stopping) fails fast too.
        self.timeout_s = timeout_s
        # The setting that gives ``timeout_s``: every timeout message names it.
        self.timeout_setting = timeout_setting

    @classmethod
    def connect(
        cls,
        uri: str,
        user: str | None,
        password: str | None,
        database: str,
        *,
        timeout_s: float | None = None,
        personal: PersonalData | None = None,
        **config: Any,
    ) -> Graph:
        auth = (user, password or "") if user else None
        # Server notifications (e.g. "relationship type does not exist yet" on an empty
        # graph) would be logged as warnings on every request: the queries are vetted.
        config.setdefault("notifications_min_severity", "OFF")
        driver = AsyncGraphDatabase.driver(uri, auth=auth, **config)
        retry_time_s = config.get("max_transaction_retry_time", 30.0)
        return cls(driver, database, timeout_s, retry_time_s, personal)

    def bounded_by(self, timeout_s: float | None, setting: str) -> Graph:
        """This database (same driver) with another bound on one unit of work, e.g. the
        write budget of imports; closing the original closes both."""
        return Graph(
            self.driver, self.database, timeout_s, self.retry_time_s, self.personal, setting
        )

    async def close(self) -> None:
        await self.driver.close()

    async def ping(self) -> None:
        """The database answers a trivial query (once, no retry: a health check).

        Not ``verify_connectivity(database=...)``: the driver marks its arguments a
        preview feature and warns on every call."""
        with mapped_errors(), self._bounded():
            async with asyncio.timeout(self.timeout_s):
                async with self.driver.session(database=self.database) as session:
                    await (await session.run(PING)).consume()

    async def read(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in a read transaction (retried on transient errors)."""
        return await self._execute(work, write=False)

    async def write(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction: all of it commits, or none."""
        return await self._execute(work, write=True)

    async def query(self, query: LiteralString, **params: Any) -> list[neo4j.Record]:
        """One read query, one network round trip.

        It runs as an auto-commit transaction in a read session: RUN and PULL go out
        together, where a transaction function also needs BEGIN and a COMMIT round trip
        (1.1 -> 0.65 ms for a one-row lookup). A read is idempotent, so the transient
        failures a transaction function would retry (a leader switch, a lost
        connection) are retried here, with backoff, for ``retry_time_s``."""
        metadata = dict(_tx_metadata.get()) or None
        with _sent(query), mapped_errors(self.timeout_setting), self._bounded():
            async with asyncio.timeout(self.timeout_s):
                return await self._auto_commit_read(
                    neo4j.Query(query, metadata=metadata, timeout=self._server_timeout()), params
                )

    async def _auto_commit_read(
        self, query: neo4j.Query, params: dict[str, Any]
    ) -> list[neo4j.Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_time_s
        delay = 0.1
        while True:
            try:
                async with self.driver.session(
                    database=self.database, default_access_mode=neo4j.READ_ACCESS
                ) as session:
                    result = await session.run(query, params)
                    return [record async for record in result]
            except (ServiceUnavailable, SessionExpired, TransientError) as error:
                retryable = not isinstance(error, TransientError) or error.is_retryable()
                if not retryable or loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay *= 2

    async def _execute(self, work: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        metadata = dict(_tx_metadata.get())

        @neo4j.unit_of_work(metadata=metadata or None, timeout=self._server_timeout())
        async def unit(tx: AsyncManagedTransaction) -> T:
            return await work(Tx(tx, self.personal))

        async def once() -> T:
            async with self.driver.session(database=self.database) as session:
                if write:
                    return await session.execute_write(unit)
                return await session.execute_read(unit)

        with mapped_errors(self.timeout_setting), self._bounded():
            async with asyncio.timeout(self.timeout_s):
                return await _outlasting_deadlocks(once)

    def _server_timeout(self) -> float | None:
        """The database's own bound on a transaction: a little past the client's, so the
        client reports the timeout, and a transaction it gave up on (cancelled, timed out,
        its connection lost) does not run on, holding locks and transaction memory."""
        return None if self.timeout_s is None else self.timeout_s + SERVER_TIMEOUT_MARGIN_S

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        """Turn the ``timeout_s`` expiry into DATABASE_UNAVAILABLE (TimeoutError is an OSError)."""
        try:
            yield
        except TimeoutError as error:
            within = f" within {self.timeout_s:g} s" if self.timeout_s else ""
            raise DatabaseUnavailableError(
                f"the graph database did not answer{within} (raise {self.timeout_setting} "
                "to allow more)",
                setting=self.timeout_setting,
            ) from error


SERVER_TIMEOUT_MARGIN_S = 5.0
DEADLOCK_RETRY_S = 60.0
"""How long a unit of work that keeps losing deadlocks is retried (within ``timeout_s``).

The driver retries transient errors for ``max_transaction_retry_time`` only, kept short
so that a database that is down fails fast. A deadlock is different: the database is
up, another writer holds the locks, and the work succeeds once it goes through alone;
with many concurrent writers of the same customers that takes longer than the driver's
budget, so deadlocks get a budget of their own (with jitter, so the losers spread out)."""


async def _outlasting_deadlocks(once: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLOCK_RETRY_S
    delay = 0.1
    while True:
        try:
            return await once()
        except TransientError as error:
            if "DeadlockDetected" not in (error.code or "") or loop.time() + delay > deadline:
                raise
            log.info("a write lost a deadlock again; retrying in %.1f s", delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)


_CLASHING_ID = re.compile(r"property `id` = (.*)$", re.S)
"""The id in Neo4j's message for a violated uniqueness constraint on ``Entity.id``."""


@contextlib.contextmanager
def mapped_errors(timeout_setting: str = "ORGGRAPH_QUERY_TIMEOUT_S") -> Iterator[None]:
    """Translate driver errors, by their code, into orggraph errors (a transaction timeout
    names ``timeout_setting``, the setting that bounds it)."""
    try:
        yield
    except OrgGraphError:
        raise
    except ConstraintError as error:
        if f"`{ENTITY_LABEL}`" in (error.message or ""):
            # Neo4j's message names its internal node number; the client gets the id only.
            clash = _CLASHING_ID.search(error.message or "")
            raise ConflictError(
                f"the id {clash.group(1) if clash else ''} is already used by an entity of "
                "another label (ids are unique across labels)",
                neo4jCode=error.code,
            ) from error
        raise ConflictError(
            "the write conflicts with a uniqueness constraint", neo4jCode=error.code
        ) from error
    except UnicodeEncodeError as error:
        # JSON may carry "\ud800": text Python holds but Bolt (UTF-8) cannot send.
        raise BadInputError(
            "a text value is not valid Unicode (it holds an unpaired surrogate)"
        ) from error
    except (ServiceUnavailable, SessionExpired, OSError) as error:
        raise DatabaseUnavailableError("the graph database is unavailable") from error
    except TransientError as error:
        raise DatabaseUnavailableError(
            "the graph database is busy; retry later", neo4jCode=error.code
        ) from error
    except ClientError as error:
        code = error.code or ""
        if code.startswith("Neo.ClientError.Transaction.TransactionTimedOut") or "Timeout" in code:
            raise BadInputError(
                f"the query took too long (raise {timeout_setting} to allow more)",
                neo4jCode=code,
                setting=timeout_setting,
            ) from error
        log.exception("database rejected a query")
        raise InternalError("the database rejected a query", neo4jCode=code) from error
    except (Neo4jError, DriverError) as error:
        log.exception("database error")
        raise DatabaseUnavailableError("the graph database failed") from error
