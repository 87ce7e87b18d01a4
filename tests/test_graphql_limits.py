"""GraphQL limits: the cost estimate (exact numbers computed by hand) and its error."""

from __future__ import annotations

import asyncio

from graphql import parse
from orggraph.schema import build_schema
from orggraph.schema.cost import estimate_cost

from orggraph.settings import Settings

SCHEMA = build_schema(Settings())
NESTED = "{ customers(first: 20) { edges { node { id touchpoints { id } } } } }"


def cost(
    query: str, variables: dict[str, object] | None = None, operation: str | None = None
) -> int:
    return estimate_cost(SCHEMA._schema, parse(query), operation, variables)


def test_each_field_costs_one_times_the_enclosing_pages() -> None:
    # customers 1; edges, node, id, touchpoints 20 each; touchpoints.id 20 x 50 (default page).
    assert cost(NESTED) == 1 + 4 * 20 + 20 * 50
    assert (
        cost("{ customers(first: 20) { edges { node { id touchpoints(first: 3) { id } } } } }")
        == 1 + 4 * 20 + 60
    )


def test_variables_fragments_and_the_chosen_operation_count() -> None:
    query = """
    query A($n: Int) { customers(first: $n) { edges { node { ...F } } } }
    query B { customers(first: 1) { edges { cursor } } }
    fragment F on Customer { id name }
    """
    assert cost(query, {"n": 10}, "A") == 1 + 10 + 10 + 10 + 10
    assert cost(query, {"n": 10}, "B") == 1 + 1 + 1
    # A page above the maximum counts as the maximum (the resolver refuses it anyway).
    assert cost(query, {"n": 10**9}, "A") == 1 + 4 * 1_000


def test_a_query_over_the_cost_limit_is_refused_with_the_estimate_and_the_limit() -> None:
    schema = build_schema(Settings(max_query_cost=1_000))
    result = asyncio.run(schema.execute(NESTED))
    assert result.data is None and result.errors is not None
    error = result.errors[0]
    assert error.extensions == {"code": "QUERY_TOO_COMPLEX", "cost": 1081, "maxCost": 1_000}
    assert "1081" in error.message and "1000" in error.message
