"""Money is exact end to end: validation, storage (amountE4), sums, attribution cents,
imports of half-cent amounts, GraphQL's Decimal, and migration 6 for older deals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.mapping import load_mapping, run_mapping
from orggraph.graph.kpis import compute_kpis
from orggraph.graph.migrations import migrate
from orggraph.graph.money import from_e4, from_minor_units, minor_unit, to_minor_units
from orggraph.graph.writes import upsert_nodes
from tests.helpers import error_codes, execute, ok

# 15 amounts on a half cent: rounding each to cents would move the total.
HALF_CENTS = [Decimal(f"{n}.{n % 10}{n % 7}5") for n in range(1, 16)]


async def scalar(graph: Graph, query: str) -> object:
    records, _, _ = await graph.driver.execute_query(query, database_=graph.database)
    return records[0][0]


def test_minor_units_and_rounding_follow_the_currency() -> None:
    assert (minor_unit("EUR"), minor_unit("JPY"), minor_unit("KWD"), minor_unit(None)) == (
        2,
        0,
        3,
        2,
    )
    assert to_minor_units(Decimal("0.125"), "EUR") == 12  # half-even
    assert to_minor_units(Decimal("0.135"), "EUR") == 14
    assert to_minor_units(Decimal("1234.5"), "JPY") == 1234
    assert to_minor_units(Decimal("1.2345"), "KWD") == 1234
    assert to_minor_units(Decimal("1.2355"), "KWD") == 1236
    assert [
        str(from_minor_units(u, c)) for u, c in ((10002, "EUR"), (1234, "JPY"), (1234, "KWD"))
    ] == [
        "100.02",
        "1234",
        "1.234",
    ]
    assert (str(from_e4(1_205_000)), str(from_e4(12_345_650)), str(from_e4(5))) == (
        "120.50",
        "1234.565",
        "0.0005",
    )


async def test_half_cent_amounts_are_stored_and_summed_exactly(graph: Graph) -> None:
    rows = [
        {"id": f"d{i}", "amount": str(amount), "openedAt": "2024-01-01T00:00:00Z"}
        for i, amount in enumerate(HALF_CENTS)
    ]
    await upsert_nodes(graph, "Deal", rows)
    exact = sum(HALF_CENTS, Decimal(0))
    total = await scalar(graph, "MATCH (d:Deal) RETURN sum(d.amountE4)")
    assert Decimal(str(total)).scaleb(-4) == exact
    assert sum(amount.quantize(Decimal("0.01")) for amount in HALF_CENTS) != exact

    data = ok(await execute(graph, '{ deal(id: "d3") { amount amountExact } }'))["deal"]
    assert data == {"amount": float(HALF_CENTS[3]), "amountExact": str(HALF_CENTS[3])}


async def test_an_amount_finer_than_four_places_or_negative_is_bad_input(graph: Graph) -> None:
    for amount, reason in ((1.00001, "4 decimal places"), (-1, "greater than or equal to 0")):
        result = await execute(
            graph,
            "mutation($a: Float!) { upsertDeal(input: "
            '{id: "d", amount: $a, openedAt: "2024-01-01T00:00:00Z"}) { id } }',
            {"a": amount},
        )
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result.errors is not None and reason in result.errors[0].message
        assert (result.errors[0].extensions or {})["field"] == "amount"
    with pytest.raises(BadInputError):
        await upsert_nodes(graph, "Deal", [{"id": "d", "amount": "1e20", "openedAt": "2024-01-01"}])
    assert await scalar(graph, "MATCH (d:Deal) RETURN count(d)") == 0


async def test_attribution_splits_the_exact_amount_in_cents(graph: Graph) -> None:
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    await upsert_nodes(graph, "Customer", [{"id": "c", "name": "C"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "t", "at": "2024-01-01T00:00:00Z", "type": "EMAIL"}
            | {"customerId": "c", "channelId": "web"}
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {"id": "d", "amount": "100.015", "openedAt": "2024-01-01T00:00:00Z"}
            | {"closedAt": "2024-01-02T00:00:00Z", "won": True, "customerId": "c"}
        ],
    )
    data = ok(
        await execute(
            graph,
            "{ attribution(model: LINEAR, by: CHANNEL) { wonRevenue rows { key credit } } }",
        )
    )["attribution"]
    # 100.015 to the cent, half-even: 100.02; the one channel gets it all.
    assert data["wonRevenue"] == "100.02"
    assert data["rows"] == [{"key": "web", "credit": "100.02"}]


async def test_an_imported_file_of_half_cents_sums_to_its_exact_total(
    graph: Graph, tmp_path: Path
) -> None:
    lines = ["id,amount,opened"] + [
        f"d{i},{amount},2024-01-0{1 + i % 9}" for i, amount in enumerate(HALF_CENTS)
    ]
    (tmp_path / "deals.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "mapping.yaml").write_text(
        """
version: 1
sources:
  - file: deals.csv
    nodes:
      - label: Deal
        id: id
        properties:
          amount: amount
          openedAt: {column: opened, type: datetime, format: "%Y-%m-%d"}
"""
    )
    await run_mapping(graph, load_mapping(tmp_path / "mapping.yaml"))
    total = await scalar(graph, "MATCH (d:Deal) RETURN sum(d.amountE4)")
    assert Decimal(str(total)).scaleb(-4) == sum(HALF_CENTS, Decimal(0))


async def test_migration_6_gives_older_deals_their_exact_amount(graph: Graph) -> None:
    await graph.driver.execute_query(
        "CREATE (:Deal {id: 'old1', amount: 19.99}), (:Deal {id: 'old2', amount: 1234.565}), "
        "(:Deal {id: 'new', amount: 1.5, amountE4: 15000})",
        database_=graph.database,
    )
    await graph.driver.execute_query(
        "MATCH (m:Migration {version: 6}) DELETE m", database_=graph.database
    )
    assert await migrate(graph) == [6]
    records, _, _ = await graph.driver.execute_query(
        "MATCH (d:Deal) RETURN d.id AS id, d.amountE4 AS e4 ORDER BY id", database_=graph.database
    )
    assert [(r["id"], r["e4"]) for r in records] == [
        ("new", 15000),
        ("old1", 199900),
        ("old2", 12345650),
    ]
    assert await migrate(graph) == []


async def test_won_revenue_kpi_sums_the_exact_amounts(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Deal",
        [
            {"id": f"d{i}", "amount": str(amount), "won": True}
            | {"openedAt": "2024-03-01T00:00:00Z", "closedAt": "2024-03-02T00:00:00Z"}
            for i, amount in enumerate(HALF_CENTS)
        ],
    )
    await upsert_nodes(
        graph, "KPI", [{"id": "rev", "name": "rev", "definition": {"measure": "WON_REVENUE"}}]
    )
    march = datetime(2024, 3, 1, tzinfo=UTC)
    [computed] = await compute_kpis(graph, since=march, until=march)
    # 1.115 + 2.225 + ... + 15.515 = 126.505 by hand; floats added one by one miss it.
    assert sum(float(amount) for amount in HALF_CENTS) == 126.50499999999998
    assert [(m["value"], m["sampleSize"]) for m in computed.measurements] == [(126.505, 15)]


async def customer_journey(graph: Graph, customer: str, channels: list[str]) -> None:
    """A customer with one touchpoint per channel, a day apart from 2024-01-01."""
    await upsert_nodes(graph, "Customer", [{"id": customer, "name": customer}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"{customer}-{channel}", "at": f"2024-01-0{1 + day}T00:00:00Z"}
            | {"type": "EMAIL", "customerId": customer, "channelId": channel}
            for day, channel in enumerate(channels)
        ],
    )


async def test_attribution_credits_whole_yen_and_thousandths_of_a_dinar(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Channel",
        [{"id": c, "name": c, "kind": "WEB"} for c in ("web", "mail", "phone")],
    )
    await customer_journey(graph, "cj", ["web", "mail"])
    await customer_journey(graph, "ck", ["web", "mail", "phone"])
    won = {"won": True, "openedAt": "2024-01-01T00:00:00Z", "closedAt": "2024-01-10T00:00:00Z"}
    await upsert_nodes(
        graph,
        "Deal",
        [
            {"id": "yen", "amount": "1000.6", "currency": "JPY", "customerId": "cj"} | won,
            {"id": "dinar", "amount": "10.001", "currency": "KWD", "customerId": "ck"} | won,
        ],
    )
    query = (
        "query($c: String) { attribution(model: LINEAR, by: CHANNEL, currency: $c) "
        "{ currency wonRevenue attributedRevenue rows { key credit } } }"
    )
    yen = ok(await execute(graph, query, {"c": "JPY"}))["attribution"]
    # 1000.6 yen is 1001 whole yen; halved: 500 each, the yen left to the first touch.
    assert yen == {
        "currency": "JPY",
        "wonRevenue": "1001",
        "attributedRevenue": "1001",
        "rows": [{"key": "web", "credit": "501"}, {"key": "mail", "credit": "500"}],
    }
    dinar = ok(await execute(graph, query, {"c": "KWD"}))["attribution"]
    # 10.001 KWD = 10001 fils over three: 3333 each, the 2 left to the first two touches
    # (rows: largest credit first, then by key).
    assert dinar == {
        "currency": "KWD",
        "wonRevenue": "10.001",
        "attributedRevenue": "10.001",
        "rows": [
            {"key": "mail", "credit": "3.334"},
            {"key": "web", "credit": "3.334"},
            {"key": "phone", "credit": "3.333"},
        ],
    }


async def test_touchpoint_values_are_exact_money(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}", "at": "2024-01-01T00:00:00Z", "type": "PURCHASE", "value": "0.1"}
            for i in range(10)
        ]
        + [{"id": "half", "at": "2024-01-01T00:00:00Z", "type": "PURCHASE", "value": "2.675"}],
    )
    # ten times 0.1 is 1 (floats: 0.9999999999999999), plus 2.675 exactly.
    assert sum([0.1] * 10) != 1
    total = await scalar(graph, "MATCH (t:Touchpoint) RETURN sum(t.valueE4)")
    assert total == 36_750
    data = ok(await execute(graph, '{ touchpoint(id: "half") { value valueExact } }'))
    assert data["touchpoint"] == {"value": 2.675, "valueExact": "2.675"}
    for value in ("0.00001", "-1"):
        with pytest.raises(BadInputError):
            row = {"id": "bad", "at": "2024-01-01T00:00:00Z", "type": "PURCHASE", "value": value}
            await upsert_nodes(graph, "Touchpoint", [row])
    assert await scalar(graph, "MATCH (t:Touchpoint {id: 'bad'}) RETURN count(t)") == 0


async def test_migration_6_gives_older_touchpoints_their_exact_value(graph: Graph) -> None:
    await graph.driver.execute_query(
        "CREATE (:Touchpoint {id: 'old', value: 19.99}), (:Touchpoint {id: 'none'})",
        database_=graph.database,
    )
    await graph.driver.execute_query(
        "MATCH (m:Migration {version: 6}) DELETE m", database_=graph.database
    )
    assert await migrate(graph) == [6]
    data = ok(await execute(graph, '{ touchpoint(id: "old") { valueExact } }'))
    assert data["touchpoint"] == {"valueExact": "19.99"}
    assert await scalar(graph, "MATCH (t:Touchpoint {id: 'old'}) RETURN t.valueE4") == 199_900
    assert await scalar(graph, "MATCH (t:Touchpoint {id: 'none'}) RETURN t.valueE4") is None


async def test_graphql_takes_money_exactly_as_a_decimal_string(graph: Graph) -> None:
    big = "12345678901234.5678"  # 18 digits: a float keeps 17 at most
    assert str(float(big)) != big
    mutation = (
        "mutation($d: DealInput!, $t: TouchpointInput!) { upsertDeal(input: $d) { amountExact }"
        " upsertTouchpoint(input: $t) { valueExact } }"
    )
    at = "2024-01-01T00:00:00Z"
    deal = {"id": "d", "amountExact": big, "openedAt": at}
    touch = {"id": "t", "at": at, "type": "PURCHASE", "valueExact": "0.0005"}
    data = ok(await execute(graph, mutation, {"d": deal, "t": touch}))
    assert data == {
        "upsertDeal": {"amountExact": big},
        "upsertTouchpoint": {"valueExact": "0.0005"},
    }
    assert await scalar(graph, "MATCH (d:Deal) RETURN d.amountE4") == 123456789012345678
    # the deprecated float, when given too, must say the same amount
    same = ok(
        await execute(
            graph, mutation, {"d": deal | {"amount": 1.5, "amountExact": "1.50"}, "t": touch}
        )
    )
    assert same["upsertDeal"] == {"amountExact": "1.50"}
    result = await execute(graph, mutation, {"d": deal | {"amount": 1.5}, "t": touch})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result.errors is not None
    assert (result.errors[0].extensions or {})["field"] == "amountExact"
    assert await scalar(graph, "MATCH (d:Deal) RETURN d.amountE4") == 15000
    missing = await execute(graph, mutation, {"d": {"id": "e", "openedAt": at}, "t": touch})
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    assert missing.errors is not None and "amount" in missing.errors[0].message
