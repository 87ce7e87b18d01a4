"""``orggraph import csv --mapping FILE``: a declarative import of CSV or JSON-lines files.

A mapping (YAML or JSON, see ``docs/import.md``) says, per source file, which
nodes and relationships each row makes. The mapping is validated whole (pydantic:
labels, relationship kinds, property names and constant enum values checked
against the model) before any source is opened; errors name the mapping key,
e.g. ``sources.0.nodes.1.properties.kind``.

Policy for bad rows (documented in ``docs/import.md``):

* pass 1 reads every source and validates every row against the model
  (conversions, enums, ids, required values) *without writing anything*;
* by default the first bad row stops the import: nothing is written, and the
  error names file, line, column and reason;
* with ``rejects`` (CLI ``--rejects FILE``) bad rows are written to that CSV
  (file, line, column, reason, row) and skipped; the good rows are imported;
* pass 2 writes the good rows in batches, one transaction per batch, through
  the general write layer (MERGE by id; references must exist). A batch that
  fails (e.g. a reference to a node that exists nowhere) is rolled back whole
  and stops the import; batches before it stay (each is complete and
  idempotent: fix the data and run again);
* re-running the same import is a no-op (every write is an upsert by id).
"""

from __future__ import annotations

import csv
import json
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    RECORDS,
    RELATIONSHIPS,
    Record,
    RelationshipKind,
)
from orggraph.graph.writes import (
    RelationshipRow,
    WriteSummary,
    write_records,
    write_relationships,
)

Say = Callable[[str], None]
ValueType = Literal["string", "int", "float", "bool", "datetime", "date", "json"]
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


# --- the mapping format --------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ValueSpec(Strict):
    """Where a value comes from: a ``column`` (converted), a constant ``value``, or a
    ``template`` like ``"nw:customer:{customerID}"``. Empty cells give no value."""

    column: str | None = None
    value: Any = None
    template: str | None = None
    type: ValueType = "string"
    format: str | None = Field(default=None, description="strptime format (datetime, date)")
    required: bool = False
    default: Any = None

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        given = [k for k in ("column", "value", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'column', 'value' or 'template'")
        if self.template is not None:
            _template_columns(self.template)
        return self

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return _template_columns(self.template)
        return []


def _template_columns(template: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as error:
        raise ValueError(f"bad template {template!r}: {error}") from error
    if any(not re.fullmatch(r"[^{}\[\].!:]+", n) for n in names):
        raise ValueError(f"template {template!r}: use plain column names in braces")
    return names


def _value_spec(raw: Any) -> Any:
    """Shorthand: a bare string is a column name, ``"{a}-{b}"`` a template."""
    if isinstance(raw, str):
        return {"template": raw} if "{" in raw else {"column": raw}
    return raw


# A value spec as written: the shorthand (``_value_spec``) allowed wherever one is read.
Value = Annotated[ValueSpec, BeforeValidator(_value_spec)]


class Filter(Strict):
    """Keep a row only if ``column`` is non-empty and (if given) equals one of ``in``;
    with ``empty: true``, only if it is empty."""

    column: str
    in_: list[str] | None = Field(default=None, alias="in")
    empty: bool = False


class _Mapped(Strict):
    """What node and relationship specs share: mapped properties (a constant or a
    column each, shorthand allowed) and a filter on the rows."""

    properties: dict[str, Value] = {}
    where: Filter | None = None


class NodeSpec(_Mapped):
    label: str
    id: Value

    @field_validator("label")
    @classmethod
    def _known_label(cls, label: str) -> str:
        if label not in RECORDS:
            raise ValueError(f"unknown label {label!r}; one of {', '.join(sorted(RECORDS))}")
        return label

    @model_validator(mode="after")
    def _known_properties(self) -> NodeSpec:
        model = RECORDS[self.label]
        by_alias = {(f.alias or n): n for n, f in model.model_fields.items()}
        for name, spec in self.properties.items():
            field_name = by_alias.get(name, name if name in model.model_fields else None)
            if field_name is None or field_name == "id":
                known = ", ".join(sorted(a for a in by_alias if a != "id"))
                raise ValueError(f"{self.label} has no property {name!r}; known: {known}")
            if spec.value is not None:
                annotation: Any = model.model_fields[field_name].annotation
                try:
                    TypeAdapter(annotation).validate_python(spec.value)
                except ValidationError as error:
                    raise ValueError(
                        f"properties.{name}: constant {spec.value!r}: {error.errors()[0]['msg']}"
                    ) from error
        return self


class RelationshipSpecIn(_Mapped):
    kind: RelationshipKind
    from_: Value = Field(alias="from")
    to: Value

    @field_validator("kind")
    @classmethod
    def _writable(cls, kind: RelationshipKind) -> RelationshipKind:
        if kind in DERIVED_RELATIONSHIPS:
            raise ValueError(f"{kind.value} is maintained by orggraph and cannot be imported")
        return kind

    @model_validator(mode="after")
    def _known_properties(self) -> RelationshipSpecIn:
        model = RELATIONSHIPS[self.kind].properties
        known = {(f.alias or n) for n, f in model.model_fields.items()}
        for name in self.properties:
            if name not in known:
                raise ValueError(
                    f"{self.kind.value} has no property {name!r}; known: "
                    f"{', '.join(sorted(known)) or '(none)'}"
                )
        return self


class SourceSpec(Strict):
    """One file (CSV with a header, or JSON lines), or inline ``rows``."""

    file: str | None = None
    rows: list[dict[str, Any]] | None = None
    format: Literal["csv", "jsonl"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    null_values: list[str] = Field(default=[], description="cells read as empty, e.g. NULL")
    extra_cells: Literal["error", "ignore"] = Field(
        default="error",
        description="rows with more cells than the header: a bad row, or keep the leading "
        "cells (only safe when every mapped column precedes the first free-text column)",
    )
    nodes: list[NodeSpec] = []
    relationships: list[RelationshipSpecIn] = []

    @model_validator(mode="after")
    def _file_or_rows(self) -> SourceSpec:
        if (self.file is None) == (self.rows is None):
            raise ValueError("give exactly one of 'file' or 'rows'")
        if not self.nodes and not self.relationships:
            raise ValueError("a source must make at least one node or relationship")
        return self

    @property
    def name(self) -> str:
        return self.file or "(inline rows)"

    def columns(self) -> set[str]:
        """Every column the source's nodes and relationships read."""
        used: set[str] = set()
        for node in self.nodes:
            used.update(node.id.columns())
            for spec in node.properties.values():
                used.update(spec.columns())
            if node.where:
                used.add(node.where.column)
        for rel in self.relationships:
            used.update(rel.from_.columns() + rel.to.columns())
            for spec in rel.properties.values():
                used.update(spec.columns())
            if rel.where:
                used.add(rel.where.column)
        return used

    def kind(self) -> str:
        if self.format:
            return self.format
        if self.file and self.file.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        return "csv"


class Mapping_(Strict):
    version: Literal[1] = 1
    description: str | None = None
    sources: list[SourceSpec] = Field(min_length=1)


@dataclass
class LoadedMapping:
    spec: Mapping_
    base: Path


def parse_mapping(data: Any, base: Path, where: str = "mapping") -> LoadedMapping:
    try:
        spec = Mapping_.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(p) for p in item["loc"]) or "(top)"
            problems.append(f"{key}: {item['msg']}")
        raise BadInputError(
            f"{where}: invalid mapping: " + "; ".join(problems[:10]),
            field=".".join(str(p) for p in error.errors()[0]["loc"]),
        ) from error
    return LoadedMapping(spec, base)


def load_mapping(path: Path) -> LoadedMapping:
    """Read and validate a YAML or JSON mapping; source paths are relative to it."""
    if not path.is_file():
        raise BadInputError(f"no mapping file {path}", field="mapping")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise BadInputError(f"{path}: not valid YAML/JSON: {error}", field="mapping") from error
    return parse_mapping(data, path.resolve().parent, str(path))


# --- reading and converting rows ---------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str
    reason: str
    row: Mapping[str, Any]

    def message(self) -> str:
        return f"{self.file}, line {self.line}, column {self.column!r}: {self.reason}"


class BadRow(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def read_source(
    source: SourceSpec, base: Path, ragged: list[int] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; the line is the file's (1 = the CSV header).

    Lines of rows whose extra cells were ignored are appended to ``ragged``."""
    if source.rows is not None:
        for index, row in enumerate(source.rows):
            yield index + 1, row
        return
    assert source.file is not None
    path = (base / source.file).resolve()
    if not path.is_file():
        raise BadInputError(f"source file {source.file!r} not found (looked at {path})")
    try:
        yield from _read_file(source, path, ragged)
    except UnicodeDecodeError as error:
        raise BadInputError(
            f"{source.file}: not valid {source.encoding} text at byte {error.start}",
            field="encoding",
        ) from None
    except csv.Error as error:
        raise BadInputError(f"{source.file}: unreadable CSV: {error}", field="file") from None


def _read_file(
    source: SourceSpec, path: Path, ragged: list[int] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding=source.encoding) as handle:
        if source.kind() == "jsonl":
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except ValueError as error:
                    yield number, {"__error__": f"not valid JSON: {error}"}
                    continue
                yield (
                    number,
                    value
                    if isinstance(value, dict)
                    else {"__error__": "a JSON-lines row must be an object"},
                )
        else:
            reader = csv.DictReader(handle, delimiter=source.delimiter)
            missing = sorted(set(source.columns()) - set(reader.fieldnames or []))
            if missing:
                raise BadInputError(
                    f"{source.file}: the mapping uses columns {', '.join(missing)} "
                    f"that the header does not have ({', '.join(reader.fieldnames or [])})",
                    field="columns",
                )
            for row in reader:
                if None in row:
                    if source.extra_cells == "error":
                        yield reader.line_num, {"__error__": "more cells than header columns"}
                        continue
                    row = {k: v for k, v in row.items() if k is not None}
                    if ragged is not None:
                        ragged.append(reader.line_num)
                if source.null_values:
                    row = {k: "" if v in source.null_values else v for k, v in row.items()}
                yield reader.line_num, row


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def convert(spec: ValueSpec, row: Mapping[str, Any]) -> Any:
    """The value of ``spec`` for ``row`` (``None`` = no value); raises BadRow."""
    if spec.value is not None:
        return spec.value
    if spec.template is not None:
        values = {}
        for name in spec.columns():
            if _empty(row.get(name)):
                return _missing(spec, name)
            values[name] = str(row[name]).strip()
        return spec.template.format_map(values)
    assert spec.column is not None
    raw = row.get(spec.column)
    if _empty(raw):
        return _missing(spec, spec.column)
    try:
        return _typed(spec, raw)
    except (ValueError, TypeError) as error:
        raise BadRow(spec.column, f"{raw!r} is not a valid {spec.type}: {error}") from error


def _missing(spec: ValueSpec, column: str) -> Any:
    if spec.default is not None:
        return spec.default
    if spec.required:
        raise BadRow(column, "a value is required")
    return None


def _typed(spec: ValueSpec, raw: Any) -> Any:
    text = raw.strip() if isinstance(raw, str) else raw
    match spec.type:
        case "string":
            return str(text)
        case "int":
            return int(text) if not isinstance(text, float) or text.is_integer() else int("x")
        case "float":
            return float(text)
        case "bool":
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true/false, yes/no or 1/0")
        case "datetime":
            if spec.format:
                return datetime.strptime(str(text), spec.format)
            return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        case "date":
            if spec.format:
                return datetime.strptime(str(text), spec.format).date()
            return date.fromisoformat(str(text))
        case "json":
            return json.loads(text) if isinstance(text, str) else text
    raise ValueError(f"unknown type {spec.type}")


def _keep(where: Filter | None, row: Mapping[str, Any]) -> bool:
    if where is None:
        return True
    value = row.get(where.column)
    if where.empty or _empty(value):
        return where.empty and _empty(value)
    return where.in_ is None or str(value).strip() in where.in_


@dataclass
class RowWrites:
    nodes: list[tuple[str, Record]] = field(default_factory=list)
    relationships: list[tuple[RelationshipKind, dict[str, Any]]] = field(default_factory=list)


def row_writes(source: SourceSpec, row: Mapping[str, Any]) -> RowWrites:
    """Validated records and relationship rows one source row makes; raises BadRow."""
    if "__error__" in row:
        raise BadRow("(row)", str(row["__error__"]))
    out = RowWrites()
    for spec in source.nodes:
        if not _keep(spec.where, row):
            continue
        node_id = convert(spec.id, row)
        if node_id is None:
            raise BadRow(spec.id.columns()[0] if spec.id.columns() else "id", "no id")
        data: dict[str, Any] = {"id": str(node_id)}
        columns = {"id": spec.id.columns()}
        for name, value_spec in spec.properties.items():
            value = convert(value_spec, row)
            columns[name] = value_spec.columns()
            if value is not None:
                data[name] = value
        try:
            record = RECORDS[spec.label].model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else "id"
            column = ", ".join(columns.get(key, [])) or key
            raise BadRow(column, f"{spec.label}.{key}: {first['msg']}") from error
        out.nodes.append((spec.label, record))
    for rel in source.relationships:
        if not _keep(rel.where, row):
            continue
        source_id, target_id = convert(rel.from_, row), convert(rel.to, row)
        if source_id is None or target_id is None:
            continue  # an optional reference (empty cell): no relationship
        props = {}
        for name, value_spec in rel.properties.items():
            value = convert(value_spec, row)
            if value is not None:
                props[name] = value
        try:
            parsed = RelationshipRow(source=str(source_id), target=str(target_id), properties=props)
            rel_spec = RELATIONSHIPS[rel.kind]
            model = rel_spec.properties.model_validate(parsed.properties)
        except ValidationError as error:
            first = error.errors()[0]
            raise BadRow(
                ", ".join(rel.from_.columns() + rel.to.columns()),
                f"{rel.kind.value}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
            ) from error
        dumped = model.model_dump(by_alias=True, exclude_none=True)
        rel_key = dumped.pop(rel_spec.key_property, None) if rel_spec.key_property else None
        out.relationships.append(
            (
                rel.kind,
                {"from": parsed.source, "to": parsed.target, "props": dumped, "key": rel_key},
            )
        )
    return out


# --- running a mapping ------------------------------------------------------------------


@dataclass
class MappingResult:
    rows_read: int = 0
    rows_imported: int = 0
    rejected: int = 0
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    writes: WriteSummary = field(default_factory=WriteSummary)
    rejects_file: Path | None = None
    ragged: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [
            f"rows read {self.rows_read:,}, imported {self.rows_imported:,}, "
            f"rejected {self.rejected:,}"
            + (f" (see {self.rejects_file})" if self.rejects_file and self.rejected else "")
        ]
        lines += [
            f"  {name}: {n:,} rows had more cells than the header (extra cells ignored)"
            for name, n in self.ragged.items()
        ]
        lines += [f"  {label}: {n:,}" for label, n in sorted(self.nodes.items())]
        lines += [f"  {kind}: {n:,}" for kind, n in sorted(self.relationships.items())]
        lines.append(
            f"  created {self.writes.nodes_created:,} nodes, "
            f"{self.writes.relationships_created:,} relationships"
        )
        return "\n".join(lines)


def _validate_all(
    loaded: LoadedMapping, rejects: Path | None
) -> tuple[MappingResult, set[tuple[int, int]]]:
    """Pass 1: every row of every source, no writes. Returns the rejected (source, line)s."""
    result = MappingResult(rejects_file=rejects)
    bad: set[tuple[int, int]] = set()
    writer = None
    handle = None
    try:
        for index, source in enumerate(loaded.spec.sources):
            ragged: list[int] = []
            for line, row in read_source(source, loaded.base, ragged):
                result.rows_read += 1
                try:
                    row_writes(source, row)
                except BadRow as problem:
                    error = RowError(source.name, line, problem.column, problem.reason, row)
                    if rejects is None:
                        raise BadInputError(
                            error.message(),
                            file=error.file,
                            line=error.line,
                            column=error.column,
                            reason=error.reason,
                        ) from None
                    if writer is None:
                        handle = rejects.open("w", newline="", encoding="utf-8")
                        writer = csv.writer(handle)
                        writer.writerow(["file", "line", "column", "reason", "row"])
                    writer.writerow(
                        [
                            error.file,
                            error.line,
                            error.column,
                            error.reason,
                            json.dumps(dict(row), default=str),
                        ]
                    )
                    bad.add((index, line))
                    result.rejected += 1
            if ragged:
                result.ragged[source.name] = len(ragged)
    finally:
        if handle is not None:
            handle.close()
    return result, bad


def check_mapping(loaded: LoadedMapping, rejects: Path | None = None) -> MappingResult:
    """Validate the mapping's every row without writing (``--check``)."""
    result, _ = _validate_all(loaded, rejects)
    return result


async def run_mapping(
    graph: Graph,
    loaded: LoadedMapping,
    *,
    rejects: Path | None = None,
    batch_size: int = 5_000,
    progress: Say | None = None,
) -> MappingResult:
    """Validate every row (pass 1), then write the good ones batch by batch (pass 2)."""
    result, bad = _validate_all(loaded, rejects)
    for index, source in enumerate(loaded.spec.sources):
        batch: list[RowWrites] = []
        done = 0
        for line, row in read_source(source, loaded.base):
            if (index, line) in bad:
                continue
            batch.append(row_writes(source, row))
            if len(batch) >= batch_size:
                await _write_batch(graph, batch, result)
                done += len(batch)
                batch = []
                if progress:
                    progress(f"{source.name}: {done:,} rows")
        if batch:
            await _write_batch(graph, batch, result)
            done += len(batch)
        if progress:
            progress(f"{source.name}: {done:,} rows imported")
    return result


async def _write_batch(graph: Graph, batch: list[RowWrites], result: MappingResult) -> None:
    """One transaction: the batch's nodes (label by label, in mapping order), then its
    relationships; duplicates within the batch are merged (the last row wins)."""
    nodes: dict[str, dict[str, Record]] = {}
    rels: dict[RelationshipKind, dict[tuple[str, str, Any], dict[str, Any]]] = {}
    for writes in batch:
        for label, record in writes.nodes:
            nodes.setdefault(label, {})[record.id] = record
        for kind, rel in writes.relationships:
            rels.setdefault(kind, {})[(rel["from"], rel["to"], rel["key"])] = rel

    async def work(tx: Tx) -> WriteSummary:
        summary = WriteSummary()
        for label, records in nodes.items():
            summary.merge(await write_records(tx, RECORDS[label].label, list(records.values())))
        for kind, rows in rels.items():
            summary.merge(await write_relationships(tx, kind, list(rows.values())))
        return summary

    result.writes.merge(await graph.write(work))
    result.rows_imported += len(batch)
    for label, records in nodes.items():
        result.nodes[label] = result.nodes.get(label, 0) + len(records)
    for kind, rows in rels.items():
        result.relationships[kind.value] = result.relationships.get(kind.value, 0) + len(rows)
