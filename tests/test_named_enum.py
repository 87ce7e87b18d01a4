"""An enum declared on one line (graph.named_enum) behaves as one written member by
member: each value is the member's name, in the order given, and that name is what the
graph stores and GraphQL shows."""

from __future__ import annotations

import pickle

from orggraph.graph.driver import Graph
from orggraph.graph.model import Stage, TeamKind
from orggraph.graph.named_enum import NamedEnum
from orggraph.graph.writes import upsert_nodes
from tests.helpers import execute, ok

Phase = NamedEnum("Phase", "DRAFT REVIEW DONE")


def test_each_member_s_value_is_its_name_in_the_order_given() -> None:
    assert [(m.name, m.value) for m in Phase] == [
        ("DRAFT", "DRAFT"),
        ("REVIEW", "REVIEW"),
        ("DONE", "DONE"),
    ]
    assert Phase("REVIEW") is Phase.REVIEW
    assert pickle.loads(pickle.dumps(Phase.DONE)) is Phase.DONE
    assert list(Stage)[:3] == [Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL]


async def test_the_graph_stores_and_graphql_shows_the_member_s_name(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": "bu", "name": "BU", "kind": "BUSINESS_UNIT"}])
    records, _, _ = await graph.driver.execute_query(
        "MATCH (t:Team {id: 'bu'}) RETURN t.kind", database_=graph.database
    )
    assert records[0][0] == TeamKind.BUSINESS_UNIT.value == "BUSINESS_UNIT"
    answer = ok(await execute(graph, '{ team(id: "bu") { kind } }'))
    assert answer == {"team": {"kind": "BUSINESS_UNIT"}}
