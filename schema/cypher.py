"""The answer of the read-only ``cypher`` field (see docs/cypher.md)."""

from __future__ import annotations

import enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from orggraph.graph.cypher import CypherResult as RawCypherResult


@strawberry.enum(description="Why a Cypher result holds fewer rows than the query produced.")
class CypherTruncation(enum.Enum):
    ROWS = "ROWS"  # the row cap (setting cypher_max_rows)
    BYTES = "BYTES"  # the JSON size cap (setting cypher_max_bytes)


@strawberry.type(description="Rows of a read-only Cypher query, values as typed JSON.")
class CypherResult:
    columns: list[str]
    rows: JSON = strawberry.field(
        description="One list per row, one JSON value per column: nodes, relationships and "
        "paths are objects with a 'type'; temporal values ISO strings; points {type: point}."
    )
    row_count: int
    truncated: bool
    truncated_by: CypherTruncation | None
    masked: bool = strawberry.field(
        description="True when personal properties were replaced by null for this principal."
    )
    elapsed_ms: int

    @classmethod
    def from_raw(cls, raw: RawCypherResult) -> CypherResult:
        return cls(
            columns=raw.columns,
            rows=cast(JSON, raw.rows),
            row_count=len(raw.rows),
            truncated=raw.truncated,
            truncated_by=CypherTruncation(raw.truncated_by) if raw.truncated_by else None,
            masked=raw.masked,
            elapsed_ms=raw.elapsed_ms,
        )
