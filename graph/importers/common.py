"""Helpers shared by the dataset importers: reading CSVs, summaries, progress."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orggraph.graph.writes import WriteSummary

from orggraph.errors import BadInputError

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
