"""DateTime inputs that parse but cannot be computed with (a year before 1 once in UTC, a
year past 9999, year 0) are BAD_USER_INPUT naming the field, in queries and mutations,
as literals and as variables; nothing reaches a resolver to fail there as INTERNAL."""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.schema.scalars import MAX_DATETIME, MIN_DATETIME, parse_datetime
from tests.helpers import error_codes, execute, ok

OUT_OF_RANGE = (
    "0001-01-01T00:00:00+01:00",  # 0000-12-31T23:00Z: before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "0001-01-01T00:00:00Z",  # representable, but a 90-day window before it is not
    "9999-06-01T00:00:00Z",  # nor the next year's period after it
)
NOT_DATES = ("0000-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "yesterday")


def only_error(result: Any) -> dict[str, Any]:
    assert result.data is None and result.errors is not None and len(result.errors) == 1
    error = result.errors[0]
    return {"message": error.message, **(error.extensions or {})}


async def test_a_query_argument_out_of_range_names_the_argument(graph: Graph) -> None:
    for value in OUT_OF_RANGE + NOT_DATES:
        literal = f'{{ teamService(teamId: "t", at: "{value}") {{ team {{ id }} }} }}'
        error = only_error(await execute(graph, literal))
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "at"), value
        assert error["message"].startswith("'at': "), error
        as_variable = 'query($at: DateTime) { teamService(teamId: "t", at: $at) { team { id } } }'
        error = only_error(await execute(graph, as_variable, {"at": value}))
        assert error["code"] == "BAD_USER_INPUT", value
        assert "$at" in error["message"] and value in error["message"]


async def test_an_input_field_out_of_range_names_the_field(graph: Graph) -> None:
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00Z"):
        literal = (
            'mutation { upsertTouchpoint(input: {id: "t1", at: "' + value + '", type: CALL})'
            " { id } }"
        )
        error = only_error(await execute(graph, literal))
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "at"), value
        as_variable = "mutation($t: TouchpointInput!) { upsertTouchpoint(input: $t) { id } }"
        variables = {"t": {"id": "t1", "at": value, "type": "CALL"}}
        error = only_error(await execute(graph, as_variable, variables))
        assert error["code"] == "BAD_USER_INPUT"
        assert "at .at" in error["message"], error["message"]  # graphql-core's path
    # Another query's argument, and a variable's default value, name their holder too.
    coverage = (
        '{ channelCoverage(from: "0001-01-01T00:00:00+01:00", to: "2024-01-01T00:00:00Z")'
        " { touchpoints } }"
    )
    assert only_error(await execute(graph, coverage))["field"] == "from"
    default = (
        'query($at: DateTime = "yesterday") { teamService(teamId: "t", at: $at) { team { id } } }'
    )
    assert only_error(await execute(graph, default))["field"] == "$at"


async def test_dates_inside_the_range_still_work(graph: Graph) -> None:
    write = (
        'mutation { upsertTouchpoint(input: {id: "t1", at: "2002-01-01T12:00:00+01:00",'
        " type: CALL}) { id at } }"
    )
    assert ok(await execute(graph, write))["upsertTouchpoint"]["id"] == "t1"
    # A stored date must also be plausible (tests/test_plausible_dates.py): year 2 parses
    # but is refused by the write, naming the field.
    early = write.replace("2002-01-01", "0002-01-01")
    assert only_error(await execute(graph, early))["field"] == "at"
    assert error_codes(
        await execute(
            graph, '{ teamService(teamId: "t", at: "9998-06-01T00:00:00Z") { team { id } } }'
        )
    ) == ["NOT_FOUND"]
    assert parse_datetime("2024-03-01T10:00:00").tzinfo is None  # naive stays naive
    assert MIN_DATETIME.year == 2 and MAX_DATETIME.year == 9998
