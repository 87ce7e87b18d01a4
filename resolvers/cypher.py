"""``cypher(query, parameters)``: read-only Cypher for analysts (docs/cypher.md)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from orggraph.auth import require_cypher_access
from orggraph.context import Info
from orggraph.graph.cypher import run_read_only
from orggraph.schema.cypher import CypherResult


@strawberry.type
class CypherQuery:
    @strawberry.field(
        description="Run a read-only Cypher query (ANALYST or ADMIN). Writes, schema and admin "
        "commands, file access and non-read procedures are refused (CYPHER_NOT_READ_ONLY)."
    )
    async def cypher(self, info: Info, query: str, parameters: JSON | None = None) -> CypherResult:
        principal = info.context.principal
        require_cypher_access(principal)
        params: Any = parameters
        raw = await run_read_only(
            info.context.graph,
            query,
            params,
            info.context.settings.cypher_limits(),
            can_read_pii=principal.can_read_pii,
        )
        return CypherResult.from_raw(raw)
