"""Read-only Cypher for analysts: the one place where a client's text is a query.

Everywhere else in the service Cypher is a literal constant and client values
are parameters. Here the analyst writes the query, so the guarantee that it
only reads is enforced before and while it runs, by the database itself:

1. ``EXPLAIN`` plans the query (nothing executes) in a READ session. It is
   refused unless Neo4j classifies it as read-only (``query_type == 'r'``),
   it targets the service's database (no ``USE`` of another one), and no
   operator of the plan writes, changes the schema, administers, reads files
   (``LOAD CSV``), runs ``CALL { } IN TRANSACTIONS``, lists server state
   (``SHOW ...``), or calls a procedure outside :data:`ALLOWED_PROCEDURES` (which
   must also be declared READ by the database) or a function of
   :data:`DENIED_FUNCTION_PREFIXES` (APOC functions that run Cypher or I/O).
2. It then runs in an explicit READ access-mode transaction with a
   server-side timeout, which is always rolled back, never committed.
3. At most ``max_rows`` rows and ``max_bytes`` bytes of JSON are read; the
   rest is dropped and the result says ``truncated``.

Personal properties (:func:`personal_properties`) are masked to ``null`` for a
principal without the PII permission, and a query naming one of them (in its
text or its parameters) is refused, so they cannot be projected as scalars.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, LiteralString

import neo4j
import neo4j.graph
import neo4j.spatial
import neo4j.time
from neo4j.exceptions import ClientError, Neo4jError
from orggraph.graph import model
from orggraph.graph.driver import Graph, _mapped_errors, _note_query, _tx_metadata

from orggraph.errors import (
    BadInputError,
    CypherNotReadOnlyError,
    CypherSyntaxError,
    CypherTimeoutError,
    ForbiddenError,
)

# --- personal data -------------------------------------------------------------


def personal_properties() -> Mapping[str, frozenset[str]]:
    """Label (or relationship type) -> names of its personal properties (the model's)."""
    return model.PERSONAL_PROPERTIES


MASKED: Any = None
"""What a masked personal value becomes in a result (JSON null)."""


def _personal_names() -> frozenset[str]:
    return frozenset().union(*personal_properties().values())


# --- the read-only check -------------------------------------------------------

MAX_QUERY_LENGTH = 100_000

PROCEDURE_MODES: LiteralString = """
SHOW PROCEDURES YIELD name, mode
RETURN name, mode
"""
"""Every procedure the database knows and its declared mode (READ, WRITE, SCHEMA, DBMS)."""

ALLOWED_PROCEDURES: tuple[str, ...] = (
    "db.labels",
    "db.relationshipTypes",
    "db.propertyKeys",
    "db.schema.",
    "db.index.fulltext.queryNodes",
    "db.index.fulltext.queryRelationships",
    "db.index.vector.queryNodes",
    "db.index.vector.queryRelationships",
    "apoc.meta.",
    "apoc.path.",
    "apoc.neighbors.",
    "apoc.algo.",
    "apoc.coll.",
    "apoc.stats.degrees",
    "apoc.help",
)
"""Procedure names (exact, or prefixes ending in '.') an analyst may call."""

DENIED_FUNCTION_PREFIXES: tuple[str, ...] = (
    "apoc.cypher.",
    "apoc.load.",
    "apoc.import.",
    "apoc.export.",
    "apoc.trigger.",
    "apoc.periodic.",
    "apoc.util.sleep",
    "apoc.static.",
    "apoc.systemdb.",
)

# Plan operators (name before '@') that write, change schema, administer,
# read files, commit in batches, or reveal other sessions' state.
_DENIED_OPERATOR_PREFIXES: tuple[str, ...] = (
    "Create",
    "Merge",
    "LockingMerge",
    "Delete",
    "DetachDelete",
    "Set",
    "Remove",
    "Foreach",
    "LoadCSV",
    "Transaction",
    "Drop",
    "DoNothingIfExists",
    "AdministrationCommand",
    "Show",
    "Terminate",
    "Alter",
    "Grant",
    "Revoke",
    "Deny",
    "Rename",
    "Start",
    "Stop",
    "Enable",
)

_QUALIFIED_CALL = re.compile(r"([A-Za-z_][\w]*(?:\.[A-Za-z_`][\w`]*)+)\s*\(")

# Neo4j codes meaning "the query itself is wrong" (shown to the analyst as is).
_QUERY_ERROR_CODES: tuple[str, ...] = (
    "Neo.ClientError.Statement.SyntaxError",
    "Neo.ClientError.Statement.SemanticError",
    "Neo.ClientError.Statement.ParameterMissing",
    "Neo.ClientError.Statement.ArgumentError",
    "Neo.ClientError.Statement.TypeError",
    "Neo.ClientError.Statement.ArithmeticError",
    "Neo.ClientError.Statement.EntityNotFound",
    "Neo.ClientError.Statement.PropertyNotFound",
    "Neo.ClientError.Procedure.ProcedureNotFound",
    "Neo.ClientError.Procedure.ProcedureCallFailed",
    "Neo.ClientError.Statement.UnsupportedOperationError",
)
_REFUSED_CODES: tuple[str, ...] = (
    "Neo.ClientError.Statement.AccessMode",
    "Neo.ClientError.Security.Forbidden",
    "Neo.ClientError.Statement.UnsupportedAdministrationCommand",
    "Neo.ClientError.Statement.NotSystemDatabaseError",
    "Neo.ClientError.Database.DatabaseNotFound",
)

_procedure_modes: weakref.WeakKeyDictionary[Graph, dict[str, str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CypherLimits:
    timeout_s: float = 10.0
    max_rows: int = 10_000
    max_bytes: int = 10_000_000


@dataclass
class CypherResult:
    """Columns and rows of JSON values; ``truncated_by`` is ROWS or BYTES when cut."""

    columns: list[str]
    rows: list[list[Any]]
    truncated_by: str | None = None
    masked: bool = False
    elapsed_ms: int = 0

    @property
    def truncated(self) -> bool:
        return self.truncated_by is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "rowCount": len(self.rows),
            "truncated": self.truncated,
            "truncatedBy": self.truncated_by,
            "masked": self.masked,
        }


def check_request(query: Any, parameters: Any, *, can_read_pii: bool) -> tuple[str, dict[str, Any]]:
    """The shape of the request, and personal property names for non-PII principals."""
    if not isinstance(query, str) or not query.strip():
        raise BadInputError("'query' must be a non-empty string", field="query")
    if len(query) > MAX_QUERY_LENGTH:
        raise BadInputError(f"'query' must be at most {MAX_QUERY_LENGTH} characters", field="query")
    if "\x00" in query:
        raise BadInputError("'query' must not contain NUL characters", field="query")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict) or not all(isinstance(k, str) for k in parameters):
        raise BadInputError("'parameters' must be an object with string keys", field="parameters")
    if not can_read_pii:
        _refuse_personal_names(query, parameters)
    return query, parameters


def _refuse_personal_names(query: str, parameters: dict[str, Any]) -> None:
    for name in sorted(_personal_names()):
        word = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.IGNORECASE)
        if word.search(query):
            raise ForbiddenError(
                f"the query names the personal property '{name}', "
                "which this principal may not read",
                field="query",
            )
        for key, value in _strings(parameters):
            if word.search(value) or word.search(key):
                raise ForbiddenError(
                    f"the parameters name the personal property '{name}', "
                    "which this principal may not read",
                    field="parameters",
                )


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _strings(item, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)


async def _modes(graph: Graph, session: neo4j.AsyncSession) -> dict[str, str]:
    cached = _procedure_modes.get(graph)
    if cached is None:
        _note_query(PROCEDURE_MODES)
        result = await session.run(PROCEDURE_MODES)
        cached = {record["name"]: record["mode"] async for record in result}
        _procedure_modes[graph] = cached
    return cached


def _operators(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("children", []):
        yield from _operators(child)


def _procedure_allowed(name: str, modes: Mapping[str, str]) -> bool:
    listed = any(name == p or (p.endswith(".") and name.startswith(p)) for p in ALLOWED_PROCEDURES)
    # APOC declares its read procedures with mode DEFAULT, which Neo4j runs as READ.
    return listed and modes.get(name) in ("READ", "DEFAULT")


def check_plan(summary: neo4j.ResultSummary, database: str, modes: Mapping[str, str]) -> None:
    """Refuse (CYPHER_NOT_READ_ONLY) anything but a plain read of ``database``."""
    if summary.query_type != "r":
        raise CypherNotReadOnlyError(
            f"the query is not read-only (Neo4j classifies it as '{summary.query_type}')",
            field="query",
        )
    if summary.database not in (None, database):
        raise CypherNotReadOnlyError(
            f"the query targets the database '{summary.database}'; only '{database}' is readable",
            field="query",
        )
    if summary.plan is None:
        raise CypherNotReadOnlyError("the query has no execution plan", field="query")
    for operator in _operators(summary.plan):
        _check_operator(operator, database, modes)


def _check_operator(operator: Mapping[str, Any], database: str, modes: Mapping[str, str]) -> None:
    kind, _, where = str(operator.get("operatorType", "")).partition("@")
    if where and where != database:
        raise CypherNotReadOnlyError(f"the query uses the database '{where}'", field="query")
    if kind.startswith(_DENIED_OPERATOR_PREFIXES):
        raise CypherNotReadOnlyError(f"the query uses the operation '{kind}'", field="query")
    details = str(operator.get("args", {}).get("Details", ""))
    if kind == "ProcedureCall":
        name = details.split("(", 1)[0].strip()
        if not _procedure_allowed(name, modes):
            raise CypherNotReadOnlyError(
                f"the procedure '{name}' is not allowed (only read procedures of the allow-list)",
                field="query",
            )
    for match in _QUALIFIED_CALL.finditer(details):
        name = match.group(1).replace("`", "")
        if name.lower().startswith(tuple(p.lower() for p in DENIED_FUNCTION_PREFIXES)):
            raise CypherNotReadOnlyError(f"the function '{name}' is not allowed", field="query")


# --- running ------------------------------------------------------------------


async def run_read_only(
    graph: Graph,
    query: str,
    parameters: dict[str, Any],
    limits: CypherLimits,
    *,
    can_read_pii: bool,
) -> CypherResult:
    """Check ``query`` (see module doc), run it read-only, return capped JSON rows."""
    query, parameters = check_request(query, parameters, can_read_pii=can_read_pii)
    # The driver types queries as LiteralString to stop pasted values; this is
    # the one deliberate exception: the whole text is the analyst's.
    text: LiteralString = query
    explain: LiteralString = "EXPLAIN " + query
    loop = asyncio.get_running_loop()
    started = loop.time()
    metadata = {"app": "orggraph", "kind": "analyst-cypher", **_tx_metadata.get()}
    # Backstop on the client side if the server-side timeout is not honoured.
    backstop = limits.timeout_s + 5.0
    with _mapped_errors(), _query_errors(limits):
        async with asyncio.timeout(backstop):
            async with graph.driver.session(
                database=graph.database, default_access_mode=neo4j.READ_ACCESS
            ) as session:
                modes = await _modes(graph, session)
                _note_query(explain)
                planned = await session.run(explain, parameters)
                check_plan(await planned.consume(), graph.database, modes)
                tx = await session.begin_transaction(metadata=metadata, timeout=limits.timeout_s)
                try:
                    _note_query(text)
                    result = await tx.run(text, parameters)
                    collected = await _collect(result, limits, can_read_pii)
                finally:
                    await tx.rollback()  # never commit: nothing an analyst runs persists
    collected.elapsed_ms = int((loop.time() - started) * 1000)
    return collected


async def _collect(
    result: neo4j.AsyncResult, limits: CypherLimits, can_read_pii: bool
) -> CypherResult:
    columns = list(result.keys())
    out = CypherResult(columns=columns, rows=[])
    masker = _Masker(None if can_read_pii else personal_properties())
    size = 2
    async for record in result:
        if len(out.rows) >= limits.max_rows:
            out.truncated_by = "ROWS"
            break
        row = [masker.value(record[i]) for i in range(len(columns))]
        row_bytes = len(json.dumps(row, ensure_ascii=False).encode()) + 1
        if size + row_bytes > limits.max_bytes:
            out.truncated_by = "BYTES"
            break
        size += row_bytes
        out.rows.append(row)
    out.masked = masker.masked
    return out


@dataclass
class _Masker:
    """Turns driver values into typed JSON, masking personal properties if given."""

    personal: Mapping[str, frozenset[str]] | None
    masked: bool = False
    _all_names: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.personal is not None:
            self._all_names = frozenset().union(*self.personal.values())

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return (
                value
                if math.isfinite(value)
                else str(value).replace("inf", "Infinity").replace("nan", "NaN")
            )
        if isinstance(value, neo4j.graph.Node):
            return self.node(value)
        if isinstance(value, neo4j.graph.Relationship):
            return self.relationship(value)
        if isinstance(value, neo4j.graph.Path):
            return {
                "type": "path",
                "nodes": [self.node(n) for n in value.nodes],
                "relationships": [self.relationship(r) for r in value.relationships],
            }
        if isinstance(value, dict):
            # Maps are masked by key: a projection like properties(c) is still a Customer's.
            return {
                str(k): self._masked_value() if str(k) in self._all_names else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, neo4j.spatial.Point):
            return _point(value)
        if isinstance(
            value, (neo4j.time.Date, neo4j.time.Time, neo4j.time.DateTime, neo4j.time.Duration)
        ):
            return value.iso_format()
        if isinstance(value, list | tuple):  # after Point and Duration, which are tuples
            return [self.value(item) for item in value]
        if isinstance(value, (bytes, bytearray)):
            return {"type": "bytes", "hex": bytes(value).hex()}
        return str(value)

    def node(self, node: neo4j.graph.Node) -> dict[str, Any]:
        return {
            "type": "node",
            "elementId": node.element_id,
            "labels": sorted(node.labels),
            "properties": self._properties(node.labels, dict(node.items())),
        }

    def relationship(self, rel: neo4j.graph.Relationship) -> dict[str, Any]:
        return {
            "type": "relationship",
            "elementId": rel.element_id,
            "relType": rel.type,
            "start": rel.start_node.element_id if rel.start_node is not None else None,
            "end": rel.end_node.element_id if rel.end_node is not None else None,
            "properties": self._properties(frozenset({rel.type}), dict(rel.items())),
        }

    def _properties(
        self, labels: frozenset[str] | set[str], props: dict[str, Any]
    ) -> dict[str, Any]:
        hidden: set[str] = set()
        if self.personal is not None:
            for label in labels:
                hidden |= self.personal.get(label, frozenset())
        return {
            key: self._masked_value() if key in hidden else self.value(item)
            for key, item in sorted(props.items())
        }

    def _masked_value(self) -> Any:
        self.masked = True
        return MASKED


def _point(point: neo4j.spatial.Point) -> dict[str, Any]:
    coordinates = list(point)
    out: dict[str, Any] = {
        "type": "point",
        "srid": point.srid,
        "x": coordinates[0],
        "y": coordinates[1],
    }
    if len(coordinates) > 2:
        out["z"] = coordinates[2]
    return out


class _query_errors:
    """Driver errors of an analyst's query -> CYPHER_* codes (the rest: driver mapping)."""

    def __init__(self, limits: CypherLimits) -> None:
        self.limits = limits

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> Literal[False]:
        if isinstance(error, TimeoutError):
            raise self._timeout() from error
        if not isinstance(error, Neo4jError):
            return False
        code = error.code or ""
        if "TransactionTimedOut" in code:
            raise self._timeout() from error
        message = _first_line(error.message or "")
        if code in _REFUSED_CODES:
            raise CypherNotReadOnlyError(
                f"the database refused the query: {message}", field="query", neo4jCode=code
            ) from error
        if isinstance(error, ClientError) and code in _QUERY_ERROR_CODES:
            raise CypherSyntaxError(message, field="query", neo4jCode=code) from error
        return False

    def _timeout(self) -> CypherTimeoutError:
        return CypherTimeoutError(
            f"the query ran longer than {self.limits.timeout_s:g} s and was stopped",
            field="query",
            timeoutSeconds=self.limits.timeout_s,
        )


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid query"
