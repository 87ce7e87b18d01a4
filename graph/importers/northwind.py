"""``orggraph import northwind DIR``: Northwind Traders through the declarative mapping.

Everything the CSV files say row by row is in ``mappings/northwind.yaml`` (the
declarative format of ``orggraph import csv``), run with its file paths pointed at
DIR. The one thing a row-by-row mapping cannot say is an order's amount (a sum over
its lines in ``order-details.csv``), so this module adds the deals: one won
``Deal`` per order, OPENED by the customer, OWNED_BY the reporting line of the
employee who took it, amount = sum(unitPrice x quantity x (1 - discount)), USD.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import ChangeTracking, load_nodes
from orggraph.graph.importers.common import ImportSummary, read_csv
from orggraph.graph.importers.mapping import load_mapping, run_mapping

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "northwind.yaml"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
ORDER_COLUMNS = ("orderID", "customerID", "employeeID", "orderDate")


def order_amounts(directory: Path) -> dict[str, Decimal]:
    """Each order's exact amount: decimal arithmetic, never rounded (a 15% discount on
    a price in cents gives fractions of a cent; graph.money keeps 4 places)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in read_csv(directory / "order-details.csv"):
        totals[line["orderID"]] += (
            Decimal(line["unitPrice"]) * int(line["quantity"]) * (1 - Decimal(line["discount"]))
        )
    return dict(totals)


def deal_rows(directory: Path) -> list[dict[str, Any]]:
    amounts = order_amounts(directory)
    rows = []
    for order in read_csv(directory / "orders.csv"):
        opened = datetime.strptime(order["orderDate"], DATE_FORMAT)
        rows.append(
            {
                "id": f"nw:deal:{order['orderID']}",
                "amount": amounts.get(order["orderID"], Decimal(0)),
                "currency": "USD",
                "openedAt": opened,
                "closedAt": opened,
                "won": True,
                "customerId": f"nw:customer:{order['customerID']}",
                "teamId": f"nw:line:{order['employeeID']}",
            }
        )
    return rows


async def import_northwind(
    graph: Graph,
    directory: Path,
    *,
    progress: Callable[[str], None] | None = None,
    mapping: Path = MAPPING,
    tracking: ChangeTracking | None = None,
) -> ImportSummary:
    """The Northwind set through its declarative mapping. ``tracking`` is not needed: a
    mapping import always reports the touchpoints it changed (like every write of
    graph/writes.py); it is taken so that every dataset import is called alike."""
    started = time.perf_counter()
    if not mapping.is_file():
        raise BadInputError(f"the Northwind mapping is missing ({mapping})", field="mapping")
    if not (directory / "orders.csv").is_file():
        raise BadInputError(f"{directory} does not hold the Northwind CSV files", field="path")
    loaded = load_mapping(mapping)
    loaded.base = directory.resolve()
    result = await run_mapping(graph, loaded, progress=progress)
    summary = ImportSummary("northwind", writes=result.writes)
    summary.counts.update(result.nodes)
    summary.counts.update(result.relationships)
    for name, rows in result.ragged.items():
        summary.warn(
            f"{name}: {rows} rows have unquoted commas in free-text columns; their extra "
            "cells were ignored (no mapped column comes after the first free-text one)"
        )
    deals = deal_rows(directory)
    summary.writes.merge(await load_nodes(graph, "Deal", deals))  # one Change a batch
    summary.count("Deal", len(deals))
    summary.seconds = time.perf_counter() - started
    return summary
