"""GraphQL limits: the one-pass document measure (fragment bombs, cycles, same-name
fields), depth and aliases through fragments, and the cost estimate with the lists'
real bounds. Every number is computed by hand."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

import pytest
import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.validation import ValidationContext
from graphql.validation.rules.overlapping_fields_can_be_merged import (
    OverlappingFieldsCanBeMergedRule,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from orggraph.api import build_schema
from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.schema.caching import CachedParsing
from orggraph.schema.cost import (
    LIST_BOUNDS,
    UNCUT_ROOTS,
    UNPAGED_LIST_LIMIT,
    enforce_list_bounds,
    estimate_cost,
    list_bound,
    unpaged_object_lists,
)
from orggraph.schema.limits import Limits, measure
from orggraph.schema.types import DEFAULT_NESTED_LIMIT, PROCESS_STEPS_LIMIT
from orggraph.settings import Settings
from tests.helpers import execute, ok

SCHEMA = build_schema(Settings())
NESTED = "{ customers(first: 20) { edges { node { id touchpoints { id } } } } }"


def cost(
    query: str, variables: dict[str, object] | None = None, operation: str | None = None
) -> int:
    return estimate_cost(SCHEMA._schema, parse(query), operation, variables)


def bomb(levels: int) -> str:
    """Each fragment spreads the previous one twice: 2**levels selections expanded."""
    parts = ["fragment F0 on Query { __typename }"]
    parts += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)]
    return " ".join(parts) + f" query {{ ...F{levels} }}"


def errors_of(query: str, schema: Any = SCHEMA) -> list[dict[str, Any]]:
    """The errors of a document refused before execution (no context needed)."""
    result = asyncio.run(schema.execute(query))
    assert result.data is None and result.errors, "the document was not refused"
    return [{"message": e.message, **(e.extensions or {})} for e in result.errors]


# --- the one-pass measure -------------------------------------------------------------------


@pytest.fixture
def overlap_checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each run of graphql-core's same-name comparison (the rule whose work grows with
    the square of the fields it compares), recorded as it starts."""
    runs: list[object] = []
    original = OverlappingFieldsCanBeMergedRule.__init__

    def recording(self: OverlappingFieldsCanBeMergedRule, context: ValidationContext) -> None:
        runs.append(context)
        original(self, context)

    monkeypatch.setattr(OverlappingFieldsCanBeMergedRule, "__init__", recording)
    return runs


def test_a_fragment_bomb_is_refused_without_expanding_or_validating_it(
    overlap_checks: list[object],
) -> None:
    for levels in (20, 30):
        errors = errors_of(bomb(levels))
        assert [(e["code"], e["maxSelections"]) for e in errors] == [("QUERY_TOO_COMPLEX", 10_000)]
        assert "10000" in errors[0]["message"]
        # Expanded, 20 levels took 23 s before; the measure visits each node of the text
        # once (F0's field, two spreads per level, the operation's spread).
        assert measure(parse(bomb(levels)), cap=10_000).visited == 2 * levels + 2
    assert overlap_checks == []
    # The same recorder sees a document that is validated.
    assert errors_of('{ team(id: "t") { id } a: team(id: "u") { a: id a: name } }')
    assert len(overlap_checks) == 1


def test_each_fragment_is_scanned_once_and_its_size_reused_where_spread() -> None:
    size = measure(parse(bomb(20)), cap=10**9)
    # Nodes in the text: F0's field, two spreads in each of F1..F20, the query's spread.
    assert size.visited == 1 + 2 * 20 + 1
    # F0 = 1, Fi = 2 spreads + 2 * F(i-1): Fi = 3 * 2**i - 2.
    assert size.fragments["F20"].selections == 3 * 2**20 - 2
    assert size.operations["anonymous"].selections == 1 + 3 * 2**20 - 2


def test_sizes_depth_and_pairs_of_a_small_document() -> None:
    document = parse(
        "fragment A on Team { id name } fragment B on Team { ...A ...A kind }"
        ' { team(id: "t") { ...B } }'
    )
    size = measure(document, cap=10**9)
    assert size.fragments["A"].selections == 2
    assert size.fragments["B"].selections == 3 + 2 * 2
    assert size.operations["anonymous"].selections == 2 + 7  # team, the spread, B
    assert size.operations["anonymous"].depth == 1
    assert size.work == 2 + 7 + 9  # no name selected twice in one selection set
    repeated = measure(parse("{ a: __typename a: __typename a: __typename b: __typename }"), 99)
    assert repeated.work == 4 + 3  # 4 selections, 3 pairs of `a`
    assert repeated.operations["anonymous"].aliases == 4


def test_many_fields_of_one_name_are_refused_before_validation_compares_them_pairwise(
    overlap_checks: list[object],
) -> None:
    # 500 conflicting `team` fields: graphql-core would compare 124,750 pairs (1.7 s of CPU).
    query = "{ " + " ".join(f'team(id: "t{i}") {{ id }}' for i in range(500)) + " }"
    assert measure(parse(query), cap=10**9).work >= 500 * 499 // 2
    assert [e["code"] for e in errors_of(query)] == ["QUERY_TOO_COMPLEX"]
    assert overlap_checks == []
    # Five of them are few enough to reach validation, which reports the conflict.
    few = "{ " + " ".join(f'team(id: "t{i}") {{ id }}' for i in range(5)) + " }"
    # One conflict per pair of them: 5 * 4 / 2.
    assert [e["code"] for e in errors_of(few)] == ["GRAPHQL_VALIDATION_FAILED"] * 10
    assert len(overlap_checks) == 1


def test_a_fragment_that_spreads_itself_is_refused_as_invalid() -> None:
    cycle = "fragment A on Query { ...B } fragment B on Query { ...A ...A } { ...A }"
    errors = errors_of(cycle)
    assert [e["code"] for e in errors] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "within itself" in errors[0]["message"]


def test_depth_and_aliases_count_fragments_where_they_are_spread() -> None:
    limits = Limits(max_selections=10_000, max_depth=2, max_aliases=2)
    deep = parse('fragment N on Step { next { id } } { step(id: "s") { next { ...N } } }')
    assert [e.message for e in limits.check(deep)] == [
        "'anonymous' exceeds maximum operation depth of 2"
    ]
    assert limits.check(parse('{ step(id: "s") { next { id } } }')) == []
    # Introspection fields are not counted (GraphiQL's own query is deep).
    assert limits.check(parse("{ __schema { types { fields { type { name } } } } }")) == []
    aliased = parse("fragment F on Query { a: __typename } { ...F ...F b: __typename }")
    assert [e.message for e in limits.check(aliased)] == ["3 aliases found. Allowed: 2"]


def test_the_measure_reuses_the_cached_parse() -> None:
    schema = build_schema(Settings())
    found = next(e for e in schema.extensions if isinstance(e, CachedParsing))
    parsing = cast(CachedParsing, found)  # the list is typed as extension classes or factories
    cache_info = parsing.parse_document.cache_info  # type: ignore[attr-defined]
    text = bomb(25)
    errors_of(text, schema)
    hits = cache_info().hits
    assert [e["code"] for e in errors_of(text, schema)] == ["QUERY_TOO_COMPLEX"]
    assert cache_info().hits == hits + 1


# --- the property: work bounded by the document, whatever its shape -----------------------------


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Fragments F0..Fk on Query, each spreading only earlier ones (acyclic), with
    aliases, repeated names and inline fragments; an operation spreading some."""
    count = draw(st.integers(1, 6))

    def body(index: int, depth: int) -> str:
        items: list[str] = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["field", "alias", "inline", "spread", "nested"]))
            if kind == "alias":
                items.append(f"a{draw(st.integers(0, 2))}: __typename")
            elif kind == "inline" and depth < 2:
                items.append(f"... on Query {{ {body(index, depth + 1)} }}")
            elif kind == "spread" and index > 0:
                items.append(f"...F{draw(st.integers(0, index - 1))}")
            elif kind == "nested" and depth < 2:
                items.append(f"__schema {{ queryType {{ {body_leaf()} }} }}")
            else:
                items.append("__typename")
        return " ".join(items)

    def body_leaf() -> str:
        return draw(st.sampled_from(["name", "n: name", "name name", "kind"]))

    fragments = [f"fragment F{i} on Query {{ {body(i, 0)} }}" for i in range(count)]
    spreads = " ".join(f"...F{i}" for i in draw(st.lists(st.integers(0, count - 1), min_size=1)))
    return " ".join(fragments) + f" query Q {{ {spreads} }}"


def nodes_in(document: DocumentNode) -> int:
    """Selection nodes written in the document (a plain walk, spreads not followed)."""
    total = 0
    pending: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, (FragmentDefinitionNode, OperationDefinitionNode))
    ]
    while pending:
        for node in pending.pop().selections:
            total += 1
            inner = getattr(node, "selection_set", None)
            if inner is not None:
                pending.append(inner)
    return total


def expanded(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """The naive, exponential expansion: every spread walked again."""
    total = 0
    for node in selection_set.selections:
        total += 1
        if isinstance(node, FragmentSpreadNode):
            total += expanded(fragments[node.name.value].selection_set, fragments)
        elif isinstance(node, (FieldNode, InlineFragmentNode)) and node.selection_set:
            total += expanded(node.selection_set, fragments)
    return total


def pairs(selection_set: SelectionSetNode) -> int:
    """Same-name fields and distinct fragments paired per selection set (inline fragments
    merged into theirs), recursively, spreads not followed."""
    names: Counter[str] = Counter()
    spreads: set[str] = set()
    nested = 0
    flat = list(selection_set.selections)
    while flat:
        node = flat.pop()
        if isinstance(node, InlineFragmentNode):
            flat.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode):
            spreads.add(node.name.value)
        elif isinstance(node, FieldNode):
            names[(node.alias or node.name).value] += 1
            if node.selection_set is not None:
                nested += pairs(node.selection_set)
    counts = [*names.values(), len(spreads)]
    return nested + sum(n * (n - 1) // 2 for n in counts)


@settings(max_examples=150, deadline=None)
@given(text=documents(), cap=st.integers(1, 400))
def test_the_measure_visits_each_node_once_and_refuses_exactly_above_the_cap(
    text: str, cap: int
) -> None:
    document = parse(text)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    definitions = [
        d
        for d in document.definitions
        if isinstance(d, (FragmentDefinitionNode, OperationDefinitionNode))
    ]
    size = measure(document, cap=10**9)
    assert size.visited == nodes_in(document)  # linear: nothing is walked twice
    work = sum(expanded(d.selection_set, fragments) + pairs(d.selection_set) for d in definitions)
    assert size.work == work
    assert size.operations["Q"].selections == expanded(definitions[-1].selection_set, fragments)
    refused = Limits(max_selections=cap, max_depth=99, max_aliases=10**9).check(document)
    assert [(e.extensions or {}).get("code") for e in refused] == (
        ["QUERY_TOO_COMPLEX"] if work > cap else []
    )


# --- the cost estimate ------------------------------------------------------------------------


def test_each_field_costs_one_times_the_enclosing_lists_bounds() -> None:
    # customers 1; edges, node, id, touchpoints 20 each; touchpoints.id 20 x 100, the
    # relationship lists' LIMIT when `first` is absent.
    assert cost(NESTED) == 1 + 4 * 20 + 20 * 100
    assert (
        cost("{ customers(first: 20) { edges { node { id touchpoints(first: 3) { id } } } } }")
        == 1 + 4 * 20 + 60
    )


def test_unpaged_lists_multiply_by_the_limit_their_query_applies() -> None:
    # step 1, next 1, then 100 x (next 1 + 100 x (next 1 + 100 x id)).
    three_levels = '{ step(id: "s") { next { next { next { id } } } } }'
    assert cost(three_levels) == 1 + 1 + 100 + 100**2 + 100**3
    assert cost('{ process(id: "p") { steps { step { id } } } }') == 1 + 1 + 1000 * 2
    # A list paged by its parent's argument: kpiLineage(last) bounds series.
    assert cost('{ kpiLineage(kpiId: "k", last: 5) { series { id } } }') == 1 + 1 + 5
    assert cost('{ kpiLineage(kpiId: "k") { series { id } } }') == 1 + 1 + 100  # `last` = 100
    journey = '{ journey(customerId: "c", first: 3) { steps { edges { node { step { id } } } } } }'
    assert cost(journey) == 1 + 1 + 3 * 4


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


def test_a_fragment_costs_the_same_wherever_it_is_spread() -> None:
    fragment = "fragment S on Step { id next { id } }"
    # step 1 + S (1 + 1 + 100) once, then twice under `next`: 100 x 2 x 102.
    assert cost(fragment + ' { step(id: "s") { ...S next { ...S ...S } } }') == (
        1 + 102 + 1 + 100 * 2 * 102
    )


def test_a_query_over_the_cost_limit_is_refused_with_the_estimate_and_the_limit() -> None:
    schema = build_schema(Settings(max_query_cost=1_000))
    errors = errors_of(NESTED, schema)
    assert errors == [
        {
            "message": errors[0]["message"],
            "code": "QUERY_TOO_COMPLEX",
            "cost": 2081,
            "maxCost": 1_000,
        }
    ]
    assert "2081" in errors[0]["message"] and "1000" in errors[0]["message"]


def test_the_bounds_are_the_queries_own_constants() -> None:
    assert UNPAGED_LIST_LIMIT is DEFAULT_NESTED_LIMIT  # what related_page's $limit gets
    assert LIST_BOUNDS["Process.steps"] is PROCESS_STEPS_LIMIT  # what Process.steps passes


def test_every_unpaged_list_of_objects_is_cut_at_the_bound_the_estimate_uses() -> None:
    lists = list(unpaged_object_lists(SCHEMA._schema))
    assert len(lists) > 50
    for parent, name, definition in lists:
        if parent in UNCUT_ROOTS:
            continue
        bound = getattr(definition.resolve, "list_bound", None)
        assert bound == list_bound(parent, name), f"{parent}.{name}"


@strawberry.type
class Item:
    n: int


@strawberry.type
class ListsQuery:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=n) for n in range(UNPAGED_LIST_LIMIT + 50)]

    @strawberry.field
    async def later(self) -> list[Item]:
        return [Item(n=n) for n in range(UNPAGED_LIST_LIMIT + 1)]


def test_a_list_longer_than_its_bound_is_cut() -> None:
    schema = strawberry.Schema(query=ListsQuery)
    enforce_list_bounds(schema._schema)
    data = schema.execute_sync("{ items { n } }").data
    assert data is not None and len(data["items"]) == UNPAGED_LIST_LIMIT
    later = asyncio.run(schema.execute("{ later { n } }")).data
    assert later is not None and [i["n"] for i in later["later"]][-1] == UNPAGED_LIST_LIMIT - 1


async def test_the_estimate_covers_what_the_database_returns_when_lists_hit_their_bound(
    graph: Graph,
) -> None:
    # s0 is followed by 101 steps, each followed by the same 101 steps: every `next`
    # list is cut at 100 by its query.
    firsts = [f"a{i}" for i in range(101)]
    seconds = [f"b{i}" for i in range(101)]
    steps = [{"id": s, "name": s} for s in ["s0", *firsts, *seconds]]
    await upsert_nodes(graph, "Step", steps)
    links = [{"from": "s0", "to": a} for a in firsts]
    links += [{"from": a, "to": b} for a in firsts for b in seconds]
    await upsert_relationships(graph, K.STEP_NEXT_STEP, links)
    query = '{ step(id: "s0") { next { next { id } } } }'
    data = ok(await execute(graph, query))
    first_level = data["step"]["next"]
    resolved = 1 + 1 + len(first_level) + sum(len(step["next"]) for step in first_level)
    assert (len(first_level), resolved) == (100, 1 + 1 + 100 + 100 * 100)
    assert cost(query) == resolved  # the bound is reached: the estimate is exact
