"""Read-only Cypher for analysts: the one place where a client's text is a query.

Everywhere else in the service Cypher is a literal constant and client values
are parameters. Here the analyst writes the query. What it may do is enforced
first by the database (docs/security.md): the embedded Neo4j cannot read files
or reach the network, runs only allow-listed procedures and functions, kills a
transaction that takes too much memory, and holds personal data only encrypted.
This module is the second wall:

1. ``EXPLAIN`` plans the query (nothing executes) in a READ session. It is
   refused unless Neo4j classifies it as read-only (``query_type == 'r'``),
   it targets the service's database (no ``USE`` of another one), and every
   operator of the plan is on an allow-list of read operators
   (:data:`READ_OPERATORS`: no writes, schema or administration commands,
   ``LOAD CSV``, ``CALL { } IN TRANSACTIONS``, ``SHOW ...``, nor an operator
   this list does not know), every procedure is on :data:`ALLOWED_PROCEDURES`
   (and declared READ by the database), every function is Cypher's own or on
   :data:`ALLOWED_FUNCTIONS`, and no subquery hides inside an expression (a
   nested plan the plan description does not show: refused, not guessed at).
2. It then runs in an explicit READ access-mode transaction with a
   server-side timeout, which is always rolled back, never committed.
3. At most ``max_rows`` rows and ``max_bytes`` bytes of JSON are read; the
   rest is dropped and the result says ``truncated``.

Personal properties (:func:`personal_properties`) are stored encrypted
(``graph.personal``), so no query shape can read them in clear; results still
mask them to ``null`` for a principal without the PII permission.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from neo4j.exceptions import BrokenRecordError, ClientError, DriverError, Neo4jError

from orggraph.errors import (
    BadInputError,
    CypherMemoryLimitError,
    CypherNotReadOnlyError,
    CypherQueryFailedError,
    CypherSyntaxError,
    CypherTimeoutError,
)
from orggraph.graph import model
from orggraph.graph.driver import Graph, current_metadata, mapped_errors, note_query

# --- personal data -------------------------------------------------------------


def personal_properties() -> Mapping[str, frozenset[str]]:
    """Label (or relationship type) -> names of its personal properties (the model's)."""
    return model.PERSONAL_PROPERTIES


MASKED: Any = None
"""What a masked personal value becomes in a result (JSON null)."""


# --- the read-only check -------------------------------------------------------

MAX_QUERY_LENGTH = 100_000

PROCEDURE_MODES: LiteralString = """
SHOW PROCEDURES YIELD name, mode
RETURN name, mode
"""
"""Every procedure the database knows and its declared mode (READ, WRITE, SCHEMA, DBMS)."""

BUILT_IN_FUNCTIONS: LiteralString = """
SHOW FUNCTIONS YIELD name, isBuiltIn
WHERE isBuiltIn
RETURN collect(toLower(name)) AS names
"""
"""The names of Cypher's own functions (``date.truncate``, ``point.distance``, ...)."""

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

ALLOWED_FUNCTIONS: tuple[str, ...] = (
    "apoc.agg.",
    "apoc.any.",
    "apoc.bitwise.",
    "apoc.coll.",
    "apoc.convert.",
    "apoc.create.uuid",
    "apoc.create.vNode",
    "apoc.create.vRelationship",
    "apoc.data.",
    "apoc.date.",
    "apoc.hashing.",
    "apoc.label.",
    "apoc.map.",
    "apoc.math.",
    "apoc.meta.",
    "apoc.node.",
    "apoc.nodes.",
    "apoc.number.",
    "apoc.path.",
    "apoc.rel.",
    "apoc.scoring.",
    "apoc.temporal.",
    "apoc.text.",
    "apoc.util.md5",
    "apoc.util.sha1",
    "apoc.util.sha256",
    "apoc.util.sha384",
    "apoc.util.sha512",
    "apoc.util.compress",
    "apoc.util.decompress",
    "apoc.util.validatePredicate",
    "apoc.version",
)
"""User-defined function names (exact, or prefixes ending in '.') an analyst may call;
Cypher's built-in functions are always allowed. Nothing here reads files, reaches the
network, runs Cypher or sleeps."""

READ_OPERATORS: frozenset[str] = frozenset(
    {
        # leaves: scans and seeks
        "AllNodesScan", "NodeByLabelScan", "NodeByIdSeek", "NodeByElementIdSeek",
        "NodeIndexSeek", "NodeUniqueIndexSeek", "NodeIndexSeekByRange",
        "NodeUniqueIndexSeekByRange", "NodeIndexScan", "NodeIndexContainsScan",
        "NodeIndexEndsWithScan", "MultiNodeIndexSeek", "IntersectionNodeByLabelsScan",
        "UnionNodeByLabelsScan", "SubtractionNodeByLabelsScan",
        "DirectedAllRelationshipsScan", "UndirectedAllRelationshipsScan",
        "DirectedRelationshipTypeScan", "UndirectedRelationshipTypeScan",
        "DirectedUnionRelationshipTypesScan", "UndirectedUnionRelationshipTypesScan",
        "DirectedRelationshipByIdSeek", "UndirectedRelationshipByIdSeek",
        "DirectedRelationshipByElementIdSeek", "UndirectedRelationshipByElementIdSeek",
        "DirectedRelationshipIndexSeek", "UndirectedRelationshipIndexSeek",
        "DirectedRelationshipIndexSeekByRange", "UndirectedRelationshipIndexSeekByRange",
        "DirectedRelationshipIndexScan", "UndirectedRelationshipIndexScan",
        "DirectedRelationshipIndexContainsScan", "UndirectedRelationshipIndexContainsScan",
        "DirectedRelationshipIndexEndsWithScan", "UndirectedRelationshipIndexEndsWithScan",
        "NodeCountFromCountStore", "RelationshipCountFromCountStore",
        "Argument", "ArgumentTracker", "EmptyRow",
        # traversal
        "Expand", "OptionalExpand", "VarLengthExpand", "BFSPruningVarExpand",
        "ShortestPath", "StatefulShortestPath", "Repeat", "NullifyMetadata", "Trail",
        "ProjectEndpoints", "TriadicSelection", "TriadicBuild", "TriadicFilter",
        # row operations
        "Filter", "Projection", "ProduceResults", "Unwind", "PartitionedUnwind",
        "Limit", "ExhaustiveLimit", "Skip", "Sort", "PartialSort", "Top", "PartialTop",
        "Distinct", "OrderedDistinct", "EagerAggregation", "OrderedAggregation",
        "Aggregation", "CacheProperties", "Eager", "EmptyResult", "Optional", "Anti",
        "Union", "OrderedUnion", "CartesianProduct", "NodeHashJoin", "ValueHashJoin",
        "NodeLeftOuterHashJoin", "NodeRightOuterHashJoin", "AssertSameNode",
        "AssertSameRelationship",
        # nested loops (their right-hand side is part of the plan tree, so it is checked)
        "Apply", "SemiApply", "AntiSemiApply", "LetSemiApply", "LetAntiSemiApply",
        "SelectOrSemiApply", "SelectOrAntiSemiApply", "LetSelectOrSemiApply",
        "LetSelectOrAntiSemiApply", "ConditionalApply", "AntiConditionalApply",
        "RollUpApply",
        # checked further by name
        "ProcedureCall",
    }
)  # fmt: skip
"""Plan operators that only read (name before '(' and '@'). Anything else is refused:
writes, schema and administration commands, LOAD CSV, CALL IN TRANSACTIONS, SHOW, and
operators this list does not know yet (a new Neo4j version), until someone checks them."""

# A subquery inside an expression (COLLECT, COUNT or EXISTS under CASE, in a list
# comprehension, a function argument...) is planned as a nested plan that the plan
# description shows only as text: the planner's canonical rendering of the subquery
# (keywords upper case, strings and names quoted, procedure calls as ResolvedCall).
# That text is checked word by word against the clauses of a read: anything else
# (LOAD CSV, a procedure off the allow-list, a word this list does not know) is refused.
_NESTED_SUBQUERY = re.compile(r"\b(COLLECT|COUNT|EXISTS)\s*\{")
_NESTED_READ_WORDS: frozenset[str] = frozenset(
    {
        "MATCH", "OPTIONAL", "WHERE", "WITH", "RETURN", "UNWIND", "AS", "ORDER", "BY",
        "ASC", "DESC", "ASCENDING", "DESCENDING", "SKIP", "OFFSET", "LIMIT", "UNION",
        "ALL", "DISTINCT", "AND", "OR", "XOR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE",
        "CASE", "WHEN", "THEN", "ELSE", "END", "STARTS", "ENDS", "CONTAINS", "EXISTS",
        "COUNT", "COLLECT", "CALL", "SHORTEST", "ANY", "PATH", "PATHS", "GROUP", "GROUPS",
        "NAN", "INF", "INFINITY", "TYPED", "NORMALIZED", "NFC", "NFD", "NFKC", "NFKD",
        "BOOLEAN", "BOOL", "STRING", "VARCHAR", "INTEGER", "INT", "SIGNED", "FLOAT",
        "DATE", "LOCAL", "ZONED", "TIME", "DATETIME", "TIMESTAMP", "WITHOUT", "TIMEZONE",
        "DURATION", "POINT", "LIST", "ARRAY", "MAP", "NODE", "VERTEX", "RELATIONSHIP",
        "EDGE", "NOTHING", "PROPERTY", "VALUE", "FINISH",
    }
)  # fmt: skip
_LITERALS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\$`?\w+`?")
_BACKTICKED = re.compile(r"`(?:[^`]|``)*`")
_UPPER_WORD = re.compile(r"(?<![:|&!%.\w])([A-Z][A-Z_]+)\b(?!\s*[(:])")
_RESOLVED_CALL = re.compile(r"ResolvedCall\(\s*([\w.]+)\s*\(")
_CALL_NOT_SUBQUERY = re.compile(r"\bCALL\s*(?![\s({])")
_QUALIFIED_CALL = re.compile(
    r"((?:`[^`]*`|[A-Za-z_]\w*)(?:\s*\.\s*(?:`[^`]*`|[A-Za-z_]\w*))+)\s*\("
)

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
# Raised by the database for a query that planned but cannot run as written (a
# shortestPath whose start is its end): the analyst's to fix, not an outage.
_EXECUTION_ERROR_CODES: tuple[str, ...] = ("Neo.DatabaseError.Statement.ExecutionFailed",)
_REFUSED_CODES: tuple[str, ...] = (
    "Neo.ClientError.Statement.AccessMode",
    "Neo.ClientError.Security.Forbidden",
    "Neo.ClientError.Statement.UnsupportedAdministrationCommand",
    "Neo.ClientError.Statement.NotSystemDatabaseError",
    "Neo.ClientError.Database.DatabaseNotFound",
)

_catalogues: weakref.WeakKeyDictionary[Graph, Catalogue] = weakref.WeakKeyDictionary()


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


def check_request(query: Any, parameters: Any) -> tuple[str, dict[str, Any]]:
    """The shape of the request: a non-empty query of bounded size, an object of parameters."""
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
    return query, parameters


@dataclass(frozen=True)
class Catalogue:
    """What the database declares: each procedure's mode, and its built-in functions."""

    procedure_modes: Mapping[str, str]
    built_in_functions: frozenset[str]


async def _catalogue(graph: Graph, session: neo4j.AsyncSession) -> Catalogue:
    cached = _catalogues.get(graph)
    if cached is None:
        note_query(PROCEDURE_MODES)
        result = await session.run(PROCEDURE_MODES)
        modes = {record["name"]: record["mode"] async for record in result}
        note_query(BUILT_IN_FUNCTIONS)
        record = await (await session.run(BUILT_IN_FUNCTIONS)).single()
        functions = frozenset(record["names"]) if record is not None else frozenset()
        cached = Catalogue(modes, functions)
        _catalogues[graph] = cached
    return cached


def _operators(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("children", []):
        yield from _operators(child)


def _listed(name: str, allowed: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(
        lowered == p.lower() or (p.endswith(".") and lowered.startswith(p.lower())) for p in allowed
    )


def _procedure_allowed(name: str, modes: Mapping[str, str]) -> bool:
    # APOC declares its read procedures with mode DEFAULT, which Neo4j runs as READ.
    return _listed(name, ALLOWED_PROCEDURES) and modes.get(name) in ("READ", "DEFAULT")


def check_plan(summary: neo4j.ResultSummary, database: str, catalogue: Catalogue) -> None:
    """Refuse (CYPHER_NOT_READ_ONLY) anything but a plain read of ``database``: every
    operator of the plan must be a known read operator, every procedure and function
    on the allow-list, and no part of the plan may be hidden in an expression."""
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
        _check_operator(operator, database, catalogue)


def _check_operator(operator: Mapping[str, Any], database: str, catalogue: Catalogue) -> None:
    kind, _, where = str(operator.get("operatorType", "")).partition("@")
    if where and where != database:
        raise CypherNotReadOnlyError(f"the query uses the database '{where}'", field="query")
    if kind.split("(", 1)[0] not in READ_OPERATORS:
        raise CypherNotReadOnlyError(
            f"the query uses the operation '{kind}', which is not a known read operation",
            field="query",
        )
    details = str(operator.get("args", {}).get("Details", ""))
    if kind == "ProcedureCall":
        name = details.split("(", 1)[0].strip()
        if not _procedure_allowed(name, catalogue.procedure_modes):
            raise CypherNotReadOnlyError(
                f"the procedure '{name}' is not allowed (only read procedures of the allow-list)",
                field="query",
            )
        details = details.split("(", 1)[1] if "(" in details else ""
    details = _LITERALS.sub(" ", details)
    _check_nested_subqueries(details, catalogue)
    for match in _QUALIFIED_CALL.finditer(_RESOLVED_CALL.sub("(", details)):
        name = re.sub(r"[`\s]", "", match.group(1))
        if name.lower() not in catalogue.built_in_functions and not _listed(
            name, ALLOWED_FUNCTIONS
        ):
            raise CypherNotReadOnlyError(
                f"the function '{name}' is not allowed (only Cypher's own functions and "
                "those of the allow-list)",
                field="query",
            )


def _check_nested_subqueries(details: str, catalogue: Catalogue) -> None:
    """Refuse a nested subquery whose rendered text holds anything but a read."""
    text = _BACKTICKED.sub(" ", details)
    for match in _RESOLVED_CALL.finditer(text):
        if not _procedure_allowed(match.group(1), catalogue.procedure_modes):
            raise CypherNotReadOnlyError(
                f"the procedure '{match.group(1)}' is not allowed (only read procedures of "
                "the allow-list)",
                field="query",
            )
    text = _RESOLVED_CALL.sub("(", text)
    for start in _NESTED_SUBQUERY.finditer(text):
        body = _braced(text, start.end() - 1)
        kind = start.group(1)
        words = {word.group(1) for word in _UPPER_WORD.finditer(body)} - _NESTED_READ_WORDS
        if words or _CALL_NOT_SUBQUERY.search(body):
            what = ", ".join(sorted(words)) or "CALL"
            raise CypherNotReadOnlyError(
                f"the {kind} {{ }} subquery inside an expression uses {what}, which is not "
                "part of a read (a subquery nested in an expression may only MATCH, filter "
                "and return)",
                field="query",
            )


def _braced(text: str, opening: int) -> str:
    """The text between the brace at ``opening`` and its match (or the end)."""
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[opening + 1 : index]
    return text[opening + 1 :]


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
    query, parameters = check_request(query, parameters)
    # The driver types queries as LiteralString to stop pasted values; this is
    # the one deliberate exception: the whole text is the analyst's.
    text: LiteralString = query
    explain: LiteralString = "EXPLAIN " + query
    loop = asyncio.get_running_loop()
    started = loop.time()
    metadata = {"app": "orggraph", **current_metadata(), "kind": "analyst-cypher"}
    # Backstop on the client side if the server-side timeout is not honoured.
    backstop = limits.timeout_s + 5.0
    with mapped_errors(), _query_errors(limits):
        async with asyncio.timeout(backstop):
            async with graph.driver.session(
                database=graph.database, default_access_mode=neo4j.READ_ACCESS
            ) as session:
                catalogue = await _catalogue(graph, session)
                note_query(explain)
                planned = await session.run(explain, parameters)
                check_plan(await planned.consume(), graph.database, catalogue)
                tx = await session.begin_transaction(metadata=metadata, timeout=limits.timeout_s)
                try:
                    note_query(text)
                    result = await tx.run(text, parameters)
                    collected = await _collect(result, limits, can_read_pii)
                finally:
                    await _roll_back(tx)
    collected.elapsed_ms = int((loop.time() - started) * 1000)
    return collected


async def _roll_back(tx: neo4j.AsyncTransaction) -> None:
    """Never commit: nothing an analyst runs persists. A transaction the database or the
    timeout already ended has nothing to roll back, and its own error is the one to report."""
    if tx.closed():
        return
    with contextlib.suppress(Neo4jError, DriverError):
        await tx.rollback()


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
        row = [masker.value(_field(record, columns, i)) for i in range(len(columns))]
        row_bytes = len(json.dumps(row, ensure_ascii=False).encode()) + 1
        if size + row_bytes > limits.max_bytes:
            out.truncated_by = "BYTES"
            break
        size += row_bytes
        out.rows.append(row)
    out.masked = masker.masked
    return out


def _field(record: neo4j.Record, columns: list[str], index: int) -> Any:
    try:
        return record[index]
    except BrokenRecordError as error:
        raise CypherQueryFailedError(
            f"a value in column '{columns[index]}' cannot be represented (for instance a "
            "datetime outside year 1-9999 once converted to UTC); return it with toString()",
            field="query",
            column=columns[index],
        ) from error


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
        if "Memory" in code:
            raise CypherMemoryLimitError(
                "the query needed more memory than one analyst query may take and was "
                "stopped (the database and other queries are unaffected): aggregate, "
                "filter or LIMIT earlier",
                field="query",
                neo4jCode=code,
            ) from error
        if isinstance(error, ClientError) and code in _QUERY_ERROR_CODES:
            raise CypherSyntaxError(message, field="query", neo4jCode=code) from error
        if code in _EXECUTION_ERROR_CODES:
            raise CypherQueryFailedError(message, field="query", neo4jCode=code) from error
        return False

    def _timeout(self) -> CypherTimeoutError:
        return CypherTimeoutError(
            f"the query ran longer than {self.limits.timeout_s:g} s and was stopped",
            field="query",
            timeoutSeconds=self.limits.timeout_s,
        )


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid query"
