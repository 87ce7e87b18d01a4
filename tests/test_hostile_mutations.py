"""Every mutation under hostile input: a clear coded error with the graph unchanged,
or success storing strings verbatim; and the service keeps answering.

The list of mutations is read from the schema, so a new mutation is covered
(and must survive) without editing this file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orggraph.context import Context
from orggraph.settings import Settings
from tests.hostile import SCHEMA, SyncGraph, arguments, mutation_fields, open_sync_graph, operation

MUTATIONS = mutation_fields()
# Codes a client may get for bad input; INTERNAL (a bug) or a missing code fails the test.
CLIENT_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "QUERY_TOO_COMPLEX"}
HOSTILE = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    database=None,
)


@pytest.fixture(scope="module")
def db(test_settings: Settings) -> Iterator[SyncGraph]:
    yield from open_sync_graph(test_settings)


def execute(db: SyncGraph, text: str, variables: dict[str, Any]) -> Any:
    context = Context.for_request(db.graph, Settings())
    return db.run(SCHEMA.execute(text, variable_values=variables, context_value=context))


def test_the_mutation_list_comes_from_the_schema() -> None:
    assert {"upsertCustomer", "upsertTouchpoints", "upsertRelationships", "upsertGraph"} <= set(
        MUTATIONS
    )
    assert len(MUTATIONS) >= 30


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_hostile_input_gives_a_coded_error_and_leaves_the_graph_unchanged(
    db: SyncGraph, name: str
) -> None:
    field = MUTATIONS[name]
    text = operation("mutation", name, field)

    @HOSTILE
    @given(variables=arguments(field))
    def check(variables: dict[str, Any]) -> None:
        before = db.fingerprint()
        result = execute(db, text, variables)
        if result.errors:
            for error in result.errors:
                code = (error.extensions or {}).get("code")
                assert code in CLIENT_CODES, (code, error.message, variables)
                assert error.message and "Traceback" not in error.message
            assert db.fingerprint() == before, f"{name} failed but changed the graph"
        else:
            _stored_verbatim(db, name, variables)

    check()
    # The service still answers reads after all of it.
    alive = execute(db, "{ teams(first: 1) { edges { node { id } } } }", {})
    assert alive.errors is None


def _stored_verbatim(db: SyncGraph, name: str, variables: dict[str, Any]) -> None:
    """A single upsert that succeeded stored its plain string fields exactly."""
    row = variables.get("input")
    if not name.startswith("upsert") or not isinstance(row, dict) or "id" not in row:
        return

    async def read() -> dict[str, Any]:
        async with db.graph.driver.session(database=db.graph.database) as session:
            result = await session.run(
                "MATCH (n {id: $id}) RETURN properties(n) AS p", id=row["id"]
            )
            records = [r["p"] async for r in result]
        return records[0] if len(records) == 1 else {}

    stored = db.run(read())
    if not stored:
        return  # the id is shared with another label: nothing to compare without ambiguity
    for key in ("name", "segment", "activity", "role", "unit", "currency", "email"):
        value = row.get(key)
        if isinstance(value, str) and key in stored:
            kept = stored[key]
            if key == "email":  # personal: stored sealed (graph.personal)
                assert db.graph.personal is not None
                kept = db.graph.personal.open("Customer", row["id"], key, kept)
            assert kept == value, (key, value, stored[key])


@HOSTILE
@given(size=st.integers(min_value=1, max_value=40))
def test_batches_over_the_limit_name_the_argument_and_the_limit(db: SyncGraph, size: int) -> None:
    limited = Settings(max_batch_size=5)
    rows = [{"id": f"t{i}", "name": f"T{i}"} for i in range(size)]
    before = db.fingerprint()
    for text, variables, argument in [
        ("mutation($r: [TeamInput!]!) { upsertTeams(inputs: $r) { rows } }", {"r": rows}, "inputs"),
        (
            "mutation($r: [RelationshipInput!]!) "
            "{ upsertRelationships(kind: TEAM_PART_OF_TEAM, rows: $r) { rows } }",
            {"r": [{"from": f"t{i}", "to": "t0"} for i in range(size)]},
            "rows",
        ),
        (
            "mutation($g: GraphInput!) { upsertGraph(input: $g) { rows } }",
            {"g": {"teams": rows}},
            "input",
        ),
    ]:
        context = Context.for_request(db.graph, limited)
        result = db.run(
            SCHEMA.execute(
                text, variable_values=cast(dict[str, Any], variables), context_value=context
            )
        )
        if size > 5:
            assert result.errors is not None
            error = result.errors[0]
            assert (error.extensions or {}).get("code") == "BAD_USER_INPUT"
            assert f"'{argument}'" in error.message and "at most 5" in error.message
            assert db.fingerprint() == before
        else:
            assert not result.errors or all(
                (e.extensions or {}).get("code") in CLIENT_CODES for e in result.errors
            )


def test_nan_and_infinity_are_refused_where_numbers_are_stored(db: SyncGraph) -> None:
    before = db.fingerprint()
    for bad in (math.nan, math.inf, -math.inf):
        result = execute(
            db,
            'mutation($v: Float) { upsertKpi(input: {id: "k", name: "K", target: $v}) { id } }',
            {"v": bad},
        )
        assert result.errors and (result.errors[0].extensions or {}).get("code") == "BAD_USER_INPUT"
    assert db.fingerprint() == before


def test_an_unpaired_surrogate_is_bad_input_not_an_internal_error(db: SyncGraph) -> None:
    before = db.fingerprint()
    for row in ({"id": "\ud800", "name": "x"}, {"id": "ok", "name": "a\udfffb"}):
        result = execute(
            db, "mutation($t: TeamInput!) { upsertTeam(input: $t) { id } }", {"t": row}
        )
        assert result.errors and (result.errors[0].extensions or {}).get("code") == "BAD_USER_INPUT"
        assert "unicode" in result.errors[0].message.lower()
    assert db.fingerprint() == before
