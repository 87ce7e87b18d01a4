"""Helpers shared by the dataset importers: reading CSVs, summaries, bulk loads with progress."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import (
    ChangeTracking,
    LoadOptions,
    Progress,
    load_nodes,
    load_relationships,
    load_touchpoints,
)
from orggraph.graph.model import RelationshipKind
from orggraph.graph.write_rules import WriteSummary

log = logging.getLogger(__name__)
Say = Callable[[str], None]


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a UTF-8 CSV file with a header (a BOM is tolerated)."""
    if not path.is_file():
        raise BadInputError(f"missing file {path}", field="path")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        yield from csv.DictReader(handle)


def split_ids(value: str) -> list[str]:
    """A comma-separated id list (as in the OCEL flat export); blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def number_or_text(value: str) -> float | str:
    """A CSV cell as a number when it reads as one (OCEL attribute values), else as text."""
    try:
        return float(value)
    except ValueError:
        return value


@dataclass
class ImportSummary:
    """What an import read, wrote and skipped (shown by the CLI, checked by tests)."""

    dataset: str
    counts: dict[str, int] = field(default_factory=dict)
    writes: WriteSummary = field(default_factory=WriteSummary)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def warn(self, message: str) -> None:
        log.warning("%s: %s", self.dataset, message)
        self.warnings.append(message)

    def describe(self) -> str:
        lines = [f"{self.dataset}: imported in {self.seconds:.1f} s"]
        lines += [f"  {what}: {n:,}" for what, n in self.counts.items()]
        lines.append(
            f"  created {self.writes.nodes_created:,} nodes, "
            f"{self.writes.relationships_created:,} relationships"
        )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class Loader:
    """The bulk loads of one import, each metered and counted into its summary (with the
    touchpoints they changed, when ``tracking``: see graph/importers/bulk.py)."""

    graph: Graph
    summary: ImportSummary
    progress: Say | None
    batch_size: int
    tracking: ChangeTracking | None = None

    def _options(self, what: str, rows: int, every: int) -> LoadOptions:
        """The loader's batch size and tracking, and a meter reporting ``what``'s progress."""
        meter = Progress(what, rows, self.progress, every=every)
        return LoadOptions(batch_size=self.batch_size, progress=meter, tracking=self.tracking)

    async def nodes(self, label: str, rows: Sequence[Mapping[str, Any]]) -> None:
        options = self._options(label, len(rows), self.batch_size)
        self.summary.writes.merge(await load_nodes(self.graph, label, rows, **options))
        self.summary.count(label, len(rows))

    async def relationships(
        self, kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Rows naming a node that does not exist are counted out and warned about."""
        options = self._options(kind.value, len(rows), self.batch_size * 2)
        loaded = await load_relationships(self.graph, kind, rows, **options)
        self.summary.writes.merge(loaded.summary)
        self.summary.count(kind.value, len(rows) - loaded.missing)
        if loaded.missing:
            self.summary.warn(f"{loaded.missing} {kind.value} rows name a missing node")

    async def touchpoints(self, rows: Sequence[Mapping[str, Any]]) -> None:
        options = self._options("Touchpoint", len(rows), self.batch_size)
        self.summary.writes.merge(await load_touchpoints(self.graph, rows, **options))
        self.summary.count("Touchpoint", len(rows))
