"""Customer journey traversal: hand-built graph, hand-computed answers, bounded round trips."""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from tests.helpers import error_codes, execute, execute_counted, ok

JOURNEY = """
query J($id: ID!, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
  journey(customerId: $id, from: $from, to: $to, first: $first, after: $after) {
    customer { id name }
    furthestStage
    stalledAt { id name }
    deals { id amount }
    steps {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node {
        touchpoint { id type }
        channel { id } campaign { id } team { id } person { id } step { id stage }
        sincePrevious
      } }
    }
  }
}
"""


async def seed(graph: Graph, extra_touchpoints: int = 0) -> None:
    await upsert_nodes(
        graph, "Team", [{"id": "mkt", "name": "Marketing"}, {"id": "sales", "name": "Sales"}]
    )
    await upsert_nodes(graph, "Person", [{"id": "ann", "name": "Ann"}])
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
        ],
    )
    await upsert_nodes(graph, "Campaign", [{"id": "spring", "name": "Spring"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s-lead", "name": "Capture", "stage": "LEAD"},
            {"id": "s-mql", "name": "Score", "stage": "MQL"},
            {"id": "s-sql", "name": "Qualify", "stage": "SQL"},
            {"id": "s-won", "name": "Close", "stage": "CUSTOMER"},
        ],
    )
    await upsert_nodes(
        graph, "Customer", [{"id": "c1", "name": "ACME"}, {"id": "c2", "name": "Beta"}]
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "t1",
                "at": "2024-03-01T09:00:00Z",
                "type": "PAGE_VIEW",
                "customerId": "c1",
                "channelId": "web",
                "campaignId": "spring",
                "teamId": "mkt",
                "stepId": "s-lead",
            },
            {
                "id": "t2",
                "at": "2024-03-01T10:00:00Z",
                "type": "FORM_SUBMIT",
                "customerId": "c1",
                "channelId": "web",
                "stepId": "s-mql",
            },
            {
                "id": "t3",
                "at": "2024-03-03T10:00:00Z",
                "type": "CALL",
                "customerId": "c1",
                "channelId": "phone",
                "teamId": "sales",
                "personId": "ann",
                "stepId": "s-sql",
            },
            {"id": "t4", "at": "2024-03-04T10:00:30Z", "type": "EMAIL", "customerId": "c1"},
            {
                "id": "u1",
                "at": "2024-03-01T09:30:00Z",
                "type": "PURCHASE",
                "customerId": "c2",
                "stepId": "s-won",
            },
        ],
    )
    if extra_touchpoints:
        await upsert_nodes(
            graph,
            "Touchpoint",
            [
                {
                    "id": f"x{i:03}",
                    "at": f"2024-04-01T00:{i // 60:02}:{i % 60:02}Z",
                    "type": "PAGE_VIEW",
                    "customerId": "c1",
                    "channelId": "web",
                    "teamId": "mkt",
                    "stepId": "s-lead",
                }
                for i in range(extra_touchpoints)
            ],
        )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {"id": "d-old", "amount": 5, "openedAt": "2024-01-01T00:00:00Z", "customerId": "c1"},
            {"id": "d1", "amount": 100, "openedAt": "2024-03-03T12:00:00Z", "customerId": "c1"},
        ],
    )


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in data["journey"]["steps"]["edges"]]


async def test_the_whole_journey_in_order_with_what_each_touchpoint_went_through(
    graph: Graph,
) -> None:
    await seed(graph)
    data = ok(await execute(graph, JOURNEY, {"id": "c1"}))
    journey = data["journey"]
    assert journey["customer"] == {"id": "c1", "name": "ACME"}
    steps = nodes(data)
    assert [s["touchpoint"]["id"] for s in steps] == ["t1", "t2", "t3", "t4"]
    assert steps[0] == {
        "touchpoint": {"id": "t1", "type": "PAGE_VIEW"},
        "channel": {"id": "web"},
        "campaign": {"id": "spring"},
        "team": {"id": "mkt"},
        "person": None,
        "step": {"id": "s-lead", "stage": "LEAD"},
        "sincePrevious": None,
    }
    assert steps[2]["team"] == {"id": "sales"} and steps[2]["person"] == {"id": "ann"}
    assert [s["sincePrevious"] for s in steps] == [None, 3600.0, 2 * 86400.0, 86400.0 + 30]
    assert steps[3]["step"] is None and steps[3]["channel"] is None
    # Deals opened from the first touchpoint on (d-old predates the journey).
    assert journey["deals"] == [{"id": "d1", "amount": 100.0}]
    # Furthest stage SQL (not CUSTOMER): stalled at the last touchpoint's step (none for t4).
    assert journey["furthestStage"] == "SQL"
    assert journey["stalledAt"] is None
    assert journey["steps"]["totalCount"] == 4
    assert journey["steps"]["pageInfo"]["hasNextPage"] is False


async def test_a_window_keeps_its_touchpoints_and_stalls_at_the_last_step(graph: Graph) -> None:
    await seed(graph)
    data = ok(
        await execute(
            graph,
            JOURNEY,
            {"id": "c1", "from": "2024-03-01T09:30:00Z", "to": "2024-03-04T00:00:00Z"},
        )
    )
    journey = data["journey"]
    assert [s["touchpoint"]["id"] for s in nodes(data)] == ["t2", "t3"]
    # sincePrevious follows the customer's chain, even across the window's start.
    assert [s["sincePrevious"] for s in nodes(data)] == [3600.0, 2 * 86400.0]
    assert journey["furthestStage"] == "SQL"
    assert journey["stalledAt"] == {"id": "s-sql", "name": "Qualify"}
    assert journey["deals"] == [{"id": "d1", "amount": 100.0}]


async def test_a_customer_who_became_customer_has_not_stalled(graph: Graph) -> None:
    await seed(graph)
    data = ok(await execute(graph, JOURNEY, {"id": "c2"}))
    assert data["journey"]["furthestStage"] == "CUSTOMER"
    assert data["journey"]["stalledAt"] is None
    assert data["journey"]["deals"] == []


async def test_relay_pages_walk_the_journey_without_gaps(graph: Graph) -> None:
    await seed(graph)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = ok(await execute(graph, JOURNEY, {"id": "c1", "first": 3, "after": after}))
        info = data["journey"]["steps"]["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        seen += [s["touchpoint"]["id"] for s in nodes(data)]
        pages += 1
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == ["t1", "t2", "t3", "t4"] and pages == 2


async def test_errors_unknown_customer_bad_cursor_bad_window(graph: Graph) -> None:
    await seed(graph)
    assert error_codes(await execute(graph, JOURNEY, {"id": "nobody"})) == ["NOT_FOUND"]
    assert error_codes(await execute(graph, JOURNEY, {"id": "c1", "after": "garbage!"})) == [
        "BAD_USER_INPUT"
    ]
    other_customers_cursor = "aWQ6dTE="  # id:u1, a touchpoint of c2
    assert error_codes(
        await execute(graph, JOURNEY, {"id": "c1", "after": other_customers_cursor})
    ) == ["BAD_USER_INPUT"]
    assert error_codes(
        await execute(
            graph,
            JOURNEY,
            {"id": "c1", "from": "2024-03-02T00:00:00Z", "to": "2024-03-01T00:00:00Z"},
        )
    ) == ["BAD_USER_INPUT"]


async def test_the_journey_costs_one_round_trip_whatever_its_length(graph: Graph) -> None:
    await seed(graph)
    result, small_log = await execute_counted(graph, JOURNEY, {"id": "c1"})
    ok(result)
    await seed(graph, extra_touchpoints=120)
    result, large_log = await execute_counted(graph, JOURNEY, {"id": "c1", "first": 100})
    assert len(nodes(ok(result))) == 100
    assert small_log.count == large_log.count == 1
