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

import asyncio
import csv
import enum
import functools
import itertools
import json
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, LiteralString, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from orggraph.errors import (
    BadInputError,
    ConflictError,
    DatabaseUnavailableError,
    OrgGraphError,
)
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.bulk import Progress, new_node_row, write_nodes
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    RECORDS,
    REF_PROPERTIES,
    REFS,
    RELATIONSHIPS,
    Record,
    RelationshipKind,
    validate_node_id,
)
from orggraph.graph.personal import PersonalData, seal_properties
from orggraph.graph.write_rules import WriteSummary, require_existing
from orggraph.graph.writes import RelationshipRow, write_relationships

Say = Callable[[str], None]
T = TypeVar("T")
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
    map: str | dict[str, Any] | None = Field(
        default=None,
        description="a value map: the name of one under `value_maps`, or inline pairs; the "
        "cell's text is replaced by its entry ('*': any other text) before conversion",
    )
    _table: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        given = [k for k in ("column", "value", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'column', 'value' or 'template'")
        if self.template is not None:
            _template_columns(self.template)
        if isinstance(self.map, dict):
            self._table = {str(k): v for k, v in self.map.items()}
        return self

    def use_map(self, maps: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
        """Resolve a named value map (raises ValueError for an unknown name)."""
        if isinstance(self.map, str):
            if self.map not in maps:
                known = ", ".join(sorted(maps)) or "(none declared)"
                raise ValueError(f"unknown value map {self.map!r}; known: {known}")
            self._table = {str(k): v for k, v in maps[self.map].items()}
        return self._table

    def translate(self, text: str, column: str) -> Any:
        """``text`` through the value map (no map: unchanged); raises BadRow if unmapped."""
        table = self._table  # a private attribute: read once (pydantic's slow path)
        if table is None:
            return text
        if text in table:
            return table[text]
        if "*" in table:
            return table["*"]
        name = f"value map {self.map!r}" if isinstance(self.map, str) else "the value map"
        shown = ", ".join(repr(k) for k in list(table)[:8])
        raise BadRow(column, f"{text!r} is not in {name} (it has {shown})")

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return list(_template_columns(self.template))
        return []


@functools.cache
def _template_columns(template: str) -> tuple[str, ...]:
    """The column names a template reads (parsed once per template: rows reuse it)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as error:
        raise ValueError(f"bad template {template!r}: {error}") from error
    if any(not re.fullmatch(r"[^{}\[\].!:]+", n) for n in names):
        raise ValueError(f"template {template!r}: use plain column names in braces")
    return tuple(names)


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
    optional: bool = Field(
        default=False, description="a row whose id is empty makes no node (not a bad row)"
    )
    partial: bool = Field(
        default=False,
        description="only set the mapped properties of an existing node: its required "
        "properties need not be mapped; a row naming a node that does not exist is skipped",
    )

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
            if self.partial and field_name in _reference_fields(self.label):
                raise ValueError(
                    f"properties.{name}: a partial update sets properties, not references "
                    "(map the reference with a full node or a relationship)"
                )
            if spec.value is not None:
                annotation: Any = model.model_fields[field_name].annotation
                try:
                    TypeAdapter(annotation).validate_python(spec.value)
                except ValidationError as error:
                    raise ValueError(
                        f"properties.{name}: constant {spec.value!r}: {error.errors()[0]['msg']}"
                    ) from error
        return self


def _reference_fields(label: str) -> set[str]:
    """Fields of ``label`` written as relationships (references and their properties)."""
    on_refs = {f for (owner, _), (f, _) in REF_PROPERTIES.items() if owner == label}
    return {*REFS.get(label, {}), *on_refs}


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


class _Tabular(Strict):
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

    @model_validator(mode="after")
    def _file_or_rows(self) -> _Tabular:
        if (self.file is None) == (self.rows is None):
            raise ValueError("give exactly one of 'file' or 'rows'")
        return self

    @property
    def name(self) -> str:
        return self.file or "(inline rows)"

    def columns(self) -> set[str]:
        return set()

    def kind(self) -> str:
        if self.format:
            return self.format
        if self.file and self.file.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        return "csv"


class LookupSpec(_Tabular):
    """A table other sources take columns from by key (``join``); it makes nothing itself."""

    key: str = Field(description="the column whose value other sources join on")
    # The columns the joins take (set when the mapping is validated): the header must have them.
    _needed: set[str] = PrivateAttr(default_factory=set)

    def columns(self) -> set[str]:
        return {self.key, *self._needed}


class JoinSpec(Strict):
    """Take columns of a ``lookups`` table into each row, by key: ``by`` names this
    source's column (or a template) holding the key (not ``on``: YAML reads that as
    true); ``columns`` maps the table's columns to the names they get in the row (a list
    keeps the names)."""

    lookup: str
    by: Value
    columns: dict[str, str]
    required: bool = Field(
        default=False, description="no match is a bad row (default: the columns are empty)"
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_list(cls, raw: Any) -> Any:
        return {name: name for name in raw} if isinstance(raw, list) else raw


class SourceSpec(_Tabular):
    """A file or inline rows, the columns it joins from look-up tables, and what each
    row makes."""

    join: list[JoinSpec] = []
    nodes: list[NodeSpec] = []
    relationships: list[RelationshipSpecIn] = []

    @model_validator(mode="after")
    def _makes_something(self) -> SourceSpec:
        if not self.nodes and not self.relationships:
            raise ValueError("a source must make at least one node or relationship")
        return self

    def columns(self) -> set[str]:
        """Every column of the file the source's joins, nodes and relationships read."""
        used = self._mapped_columns()
        for join in self.join:
            used -= set(join.columns.values())
        for join in self.join:
            used.update(join.by.columns())
        return used

    def value_specs(self) -> Iterator[tuple[str, str, ValueSpec]]:
        """(place in the mapping, property name or role, spec) of every value spec."""
        for n, node in enumerate(self.nodes):
            yield f"nodes.{n}", "id", node.id
            for name, spec in node.properties.items():
                yield f"nodes.{n}.properties.{name}", name, spec
        for r, rel in enumerate(self.relationships):
            yield f"relationships.{r}.from", "from", rel.from_
            yield f"relationships.{r}.to", "to", rel.to
            for name, spec in rel.properties.items():
                yield f"relationships.{r}.properties.{name}", name, spec

    def _mapped_columns(self) -> set[str]:
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


class Mapping_(Strict):
    version: Literal[1] = 1
    description: str | None = None
    lookups: dict[str, LookupSpec] = {}
    value_maps: dict[str, dict[str, Any]] = {}
    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _resolve(self) -> Mapping_:
        """Joins name declared look-ups; value maps exist and their values fit the
        properties they feed (an enum value, an id), so ``--check`` finds them first."""
        for s, source in enumerate(self.sources):
            for j, join in enumerate(source.join):
                table = self.lookups.get(join.lookup)
                if table is None:
                    known = ", ".join(sorted(self.lookups)) or "(none declared)"
                    raise ValueError(
                        f"sources.{s}.join.{j}: unknown lookup {join.lookup!r}; known: {known}"
                    )
                table._needed.update(join.columns)
            for place, name, spec in source.value_specs():
                try:
                    table_ = spec.use_map(self.value_maps)
                    if table_ is not None:
                        _check_map_values(source, place, name, table_)
                except ValueError as error:
                    raise ValueError(f"sources.{s}.{place}: {error}") from error
        return self


def _check_map_values(source: SourceSpec, place: str, name: str, table: Mapping[str, Any]) -> None:
    """A value map feeding a node property: every value must be valid for it."""
    if not place.startswith("nodes.") or ".properties." not in place:
        return
    node = source.nodes[int(place.split(".")[1])]
    model = RECORDS[node.label]
    by_alias = {(f.alias or n): n for n, f in model.model_fields.items()}
    annotation: Any = model.model_fields[by_alias.get(name, name)].annotation
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for key, value in table.items():
        try:
            adapter.validate_python(value)
        except ValidationError as error:
            raise ValueError(
                f"value map entry {key!r} -> {value!r}: {error.errors()[0]['msg']}"
            ) from error


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
    source: _Tabular, base: Path, ragged: list[int] | None = None
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
    source: _Tabular, path: Path, ragged: list[int] | None
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
        names = _template_columns(spec.template)
        values = {}
        for name in names:
            if _empty(row.get(name)):
                return _missing(spec, name)
            values[name] = str(row[name]).strip()
        text = spec.template.format_map(values)
        return text if spec.map is None else spec.translate(text, names[0] if names else "")
    assert spec.column is not None
    raw = row.get(spec.column)
    if _empty(raw):
        return _missing(spec, spec.column)
    if spec.map is not None:
        raw = spec.translate(str(raw).strip(), spec.column)
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
class Update:
    """A partial update: properties (Neo4j values) to set on an existing node."""

    label: str
    id: str
    props: dict[str, Any]


@dataclass
class RowWrites:
    nodes: list[tuple[str, Record]] = field(default_factory=list)
    relationships: list[tuple[RelationshipKind, dict[str, Any]]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)


Tables = Mapping[str, "LookupTable"]


@dataclass
class LookupTable:
    """A ``lookups`` table in memory: key -> the row (first one of a key wins)."""

    name: str
    file: str
    rows: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    duplicates: int = 0


def load_lookups(loaded: LoadedMapping) -> dict[str, LookupTable]:
    """Read every look-up table once (only the columns joins take)."""
    tables: dict[str, LookupTable] = {}
    for name, spec in loaded.spec.lookups.items():
        table = LookupTable(name, spec.name)
        keep = spec.columns()
        for _, row in read_source(spec, loaded.base):
            key = row.get(spec.key)
            if "__error__" in row or _empty(key):
                continue
            text = str(key).strip()
            if text in table.rows:
                table.duplicates += 1
                continue
            table.rows[text] = {k: v for k, v in row.items() if k in keep}
        tables[name] = table
    return tables


def _joined(source: SourceSpec, row: Mapping[str, Any], tables: Tables) -> Mapping[str, Any]:
    """The row with the columns its joins take from the look-up tables; raises BadRow."""
    if not source.join or "__error__" in row:
        return row
    out = dict(row)
    for join in source.join:
        key = convert(join.by, row)
        found = tables[join.lookup].rows.get(str(key).strip()) if key is not None else None
        if found is None and join.required:
            column = ", ".join(join.by.columns()) or "by"
            raise BadRow(
                column, f"no row of {tables[join.lookup].file} has the key {key!r} (join required)"
            )
        for taken, name in join.columns.items():
            out[name] = found.get(taken) if found is not None else None
    return out


def row_writes(
    source: SourceSpec, row: Mapping[str, Any], tables: Tables | None = None
) -> RowWrites:
    """Validated records and relationship rows one source row makes; raises BadRow."""
    if "__error__" in row:
        raise BadRow("(row)", str(row["__error__"]))
    row = _joined(source, row, tables or {})
    out = RowWrites()
    for spec in source.nodes:
        if not _keep(spec.where, row):
            continue
        node_id = convert(spec.id, row)
        if node_id is None:
            if spec.optional:
                continue
            raise BadRow(spec.id.columns()[0] if spec.id.columns() else "id", "no id")
        if spec.partial:
            out.updates.append(_partial(spec, str(node_id), row))
            continue
        data: dict[str, Any] = {"id": str(node_id)}
        for name, value_spec in spec.properties.items():
            value = convert(value_spec, row)
            if value is not None:
                data[name] = value
        try:
            record = RECORDS[spec.label].model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else "id"
            named = spec.id if key == "id" else spec.properties.get(key)
            column = ", ".join(named.columns() if named is not None else []) or key
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


def _partial(spec: NodeSpec, node_id: str, row: Mapping[str, Any]) -> Update:
    """Each mapped property validated alone (the node's required ones need not be given)."""
    try:
        validate_node_id(node_id)
    except ValueError as error:
        raise BadRow(", ".join(spec.id.columns()) or "id", f"{spec.label}.id: {error}") from error
    props: dict[str, Any] = {}
    for name, value_spec in spec.properties.items():
        value = convert(value_spec, row)
        if value is None:
            continue
        try:
            checked = _field_adapter(spec.label, name).validate_python(value)
        except ValidationError as error:
            column = ", ".join(value_spec.columns()) or name
            raise BadRow(column, f"{spec.label}.{name}: {error.errors()[0]['msg']}") from error
        props[name] = checked.value if isinstance(checked, enum.Enum) else checked
    return Update(spec.label, node_id, props)


@functools.cache
def _field_adapter(label: str, name: str) -> TypeAdapter[Any]:
    model = RECORDS[label]
    by_alias = {(f.alias or n): n for n, f in model.model_fields.items()}
    info = model.model_fields[by_alias.get(name, name)]
    annotation: Any = (
        Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    )
    return TypeAdapter(annotation)


# --- running a mapping ------------------------------------------------------------------


@dataclass
class NodeCounts:
    """Distinct nodes of one label a source wrote, by what the write did to them."""

    created: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)  # partial updates of absent nodes

    @property
    def unchanged(self) -> int:
        return len(self.seen - self.created - self.updated)

    def add(self, other: NodeCounts) -> None:
        self.created |= other.created
        self.updated |= other.updated - self.created
        self.seen |= other.seen
        self.missing |= other.missing

    def line(self, label: str) -> str:
        text = (
            f"{label}: {len(self.seen):,} distinct ({len(self.created):,} created, "
            f"{len(self.updated - self.created):,} updated, {self.unchanged:,} unchanged)"
        )
        if self.missing:
            text += f", {len(self.missing):,} not found (partial update skipped)"
        return text


@dataclass
class SourceResult:
    """What one source did: rows, seconds of pass 2, nodes by label, relationship rows."""

    name: str
    rows: int = 0
    seconds: float = 0.0
    nodes: dict[str, NodeCounts] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    retried: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class MappingResult:
    rows_read: int = 0
    rows_imported: int = 0
    rejected: int = 0
    writes: WriteSummary = field(default_factory=WriteSummary)
    rejects_file: Path | None = None
    ragged: dict[str, int] = field(default_factory=dict)
    sources: list[SourceResult] = field(default_factory=list)
    lookups: dict[str, LookupTable] = field(default_factory=dict)
    retried: int = 0
    known: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> dict[str, NodeCounts]:
        """Per label over every source: a node one source created and another updated
        counts once, as created."""
        total: dict[str, NodeCounts] = {}
        for source in self.sources:
            for label, counts in source.nodes.items():
                total.setdefault(label, NodeCounts()).add(counts)
        return total

    @property
    def nodes(self) -> dict[str, int]:
        """Distinct nodes written (or updated) per label."""
        return {label: len(c.seen) for label, c in self.labels.items()}

    @property
    def relationships(self) -> dict[str, int]:
        """Distinct relationship rows written per kind (a batch merges its duplicates)."""
        total: dict[str, int] = {}
        for source in self.sources:
            for kind, n in source.relationships.items():
                total[kind] = total.get(kind, 0) + n
        return total

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
        lines += [
            f"  lookup {t.name} ({t.file}): {len(t.rows):,} keys, {t.duplicates:,} duplicate "
            "keys ignored (the first row of a key wins)"
            for t in self.lookups.values()
            if t.duplicates
        ]
        for source in self.sources:
            lines.append(
                f"  {source.name}: {source.rows:,} rows in {source.seconds:.1f} s "
                f"({source.rate:,.0f} rows/s)"
                + (f", {source.retried} batch(es) retried" if source.retried else "")
            )
            lines += [f"    {c.line(label)}" for label, c in sorted(source.nodes.items())]
            lines += [
                f"    {kind}: {n:,} relationship rows"
                for kind, n in sorted(source.relationships.items())
            ]
        if not self.sources:  # --check: nothing written
            return "\n".join(lines)
        lines.append("  in the graph now, per label:")
        lines += [f"    {c.line(label)}" for label, c in sorted(self.labels.items())]
        at_least = "at least " if self.retried else ""
        lines.append(
            f"  relationships created: {at_least}{self.writes.relationships_created:,}"
            + (" (a retried batch's first attempt may have created some)" if self.retried else "")
        )
        return "\n".join(lines)


Validated = list[list[tuple[int, RowWrites]]]
"""Per source, the (line, writes) of its good rows, as pass 1 made them."""


def _validate_all(
    loaded: LoadedMapping, rejects: Path | None, tables: Tables, keep: int = 0
) -> tuple[MappingResult, set[tuple[int, int]], Validated | None]:
    """Pass 1: every row of every source, no writes. Returns the rejected (source, line)s
    and, when the good rows number at most ``keep``, what they write (else None: pass 2
    reads and validates them again, to keep memory flat)."""
    result = MappingResult(rejects_file=rejects)
    bad: set[tuple[int, int]] = set()
    kept: Validated | None = [] if keep > 0 else None
    writer = None
    handle = None
    try:
        for index, source in enumerate(loaded.spec.sources):
            ragged: list[int] = []
            good: list[tuple[int, RowWrites]] = []
            if kept is not None:
                kept.append(good)
            for line, row in read_source(source, loaded.base, ragged):
                result.rows_read += 1
                try:
                    writes = row_writes(source, row, tables)
                    if kept is not None:
                        good.append((line, writes))
                        if result.rows_read > keep:
                            kept = None  # too many to hold: pass 2 validates again
                            good = []
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
    return result, bad, kept


def check_mapping(loaded: LoadedMapping, rejects: Path | None = None) -> MappingResult:
    """Validate the mapping's every row without writing (``--check``): conversions, enum
    values, value maps, joins."""
    tables = load_lookups(loaded)
    result, _, _ = _validate_all(loaded, rejects, tables)
    result.lookups = tables
    return result


# --- pass 2: batches sized to the time they take, retried when their outcome is unknown --

MIN_BATCH = 50
MAX_BATCH = 50_000
TARGET_BATCH_S = 5.0
"""A batch should take about this long: one taking over twice as long is halved, one
under half as long doubled (within MIN_BATCH..MAX_BATCH). Short batches keep every
transaction far from the write budget (ORGGRAPH_WRITE_TIMEOUT_S) on a loaded machine;
long enough ones keep the per-transaction cost small."""
MAX_RETRIES = 5
KEEP_ROWS = 200_000
"""Pass 1 keeps what the rows write for pass 2 when an import has at most this many rows
(each row is then converted and validated once); a larger import validates its rows
again in pass 2, so its memory stays flat. A kept funnel row holds about 3.3 KB (three
pydantic records): at most about 650 MB."""
"""Batches retried in a row for a lost or timed-out write before the import gives up."""


@dataclass
class BatchSizer:
    """The next batch's size, from the time the last one took (see TARGET_BATCH_S)."""

    size: int
    low: int = MIN_BATCH
    high: int = MAX_BATCH
    target_s: float = TARGET_BATCH_S

    def __post_init__(self) -> None:
        self.size = max(1, min(self.size, self.high))
        self.low = min(self.low, self.size)

    def took(self, rows: int, seconds: float) -> None:
        if seconds > 2 * self.target_s:
            self.size = max(self.low, self.size // 2)
        elif seconds < self.target_s / 2 and rows >= self.size:
            self.size = min(self.high, self.size * 2)

    def failed(self) -> None:
        self.size = max(self.low, self.size // 2)


def _outcome_unknown(error: OrgGraphError) -> str | None:
    """Why a batch may be retried: its commit outcome is unknown (no answer in time, the
    connection lost after sending), or the database timed it out (rolled back)."""
    if isinstance(error, DatabaseUnavailableError):
        return f"outcome unknown ({error.message})"
    if isinstance(error, BadInputError) and "Timeout" in str(error.details.get("neo4jCode", "")):
        return f"not committed ({error.message})"
    return None


async def run_mapping(
    graph: Graph,
    loaded: LoadedMapping,
    *,
    rejects: Path | None = None,
    batch_size: int = 5_000,
    progress: Say | None = None,
    keep_rows: int = KEEP_ROWS,
) -> MappingResult:
    """Validate every row (pass 1), then write the good ones batch by batch (pass 2).

    ``batch_size`` is the first batch's size (in source rows); later ones adapt to the
    time a batch takes (BatchSizer). A batch whose outcome is unknown is said so and
    written again in halves (writes are idempotent), up to MAX_RETRIES times in a row."""
    tables = load_lookups(loaded)
    result, bad, kept = _validate_all(loaded, rejects, tables, keep_rows)
    result.lookups = tables
    sizer = BatchSizer(batch_size)
    for index, source in enumerate(loaded.spec.sources):
        counts = SourceResult(source.name)
        order = list(dict.fromkeys(n.label for n in source.nodes))
        result.sources.append(counts)
        meter = Progress(source.name, None, progress, every=max(batch_size, 10_000))
        started = time.perf_counter()
        rows = _good_rows(loaded, index, tables, bad, kept)
        writing: asyncio.Task[None] | None = None
        in_flight = 0
        try:
            while True:
                # Read (and, past KEEP_ROWS, validate) the next batch in a thread while the
                # database commits the previous one.
                batch, prepared = await asyncio.to_thread(
                    _take_prepared, rows, sizer.size, order, graph.personal
                )
                if writing is not None:
                    task, writing = writing, None
                    await task
                    meter.advance(in_flight)
                if not batch:
                    break
                write = _write_retrying(
                    graph, batch, prepared, sizer, result, counts, progress, order
                )
                writing, in_flight = asyncio.create_task(write), len(batch)
        finally:
            if writing is not None:  # reading failed: let the batch in flight finish
                await asyncio.gather(writing, return_exceptions=True)
        counts.seconds = time.perf_counter() - started
        counts.rows = meter.done
        if progress:
            progress(f"{meter.line()} (imported)")
    return result


def _take_prepared(
    rows: Iterator[tuple[int, RowWrites]],
    size: int,
    order: list[str],
    personal: PersonalData | None,
) -> tuple[list[tuple[int, RowWrites]], Batch]:
    """The next ``size`` rows (fewer at the end, none when done), and what they write."""
    batch = list(itertools.islice(rows, size))
    return batch, prepare_batch([w for _, w in batch], order, personal)


def _good_rows(
    loaded: LoadedMapping,
    index: int,
    tables: Tables,
    bad: set[tuple[int, int]],
    kept: Validated | None,
) -> Iterator[tuple[int, RowWrites]]:
    """Source ``index``'s good rows with what they write: pass 1's, or made again."""
    if kept is not None:
        rows, kept[index] = kept[index], []  # handed over once: freed after the source
        yield from rows
        return
    source = loaded.spec.sources[index]
    for line, row in read_source(source, loaded.base):
        if (index, line) not in bad:
            yield line, row_writes(source, row, tables)


async def _write_retrying(
    graph: Graph,
    batch: list[tuple[int, RowWrites]],
    prepared: Batch,
    sizer: BatchSizer,
    result: MappingResult,
    counts: SourceResult,
    say: Say | None,
    order: list[str],
) -> None:
    """Write ``batch``; a part whose outcome is unknown is written again in two halves."""
    pending = [batch]
    failures = 0
    before = Before(_ids(w for _, w in batch))
    create = True  # until the first failure: nodes the batch finds absent are CREATEd
    while pending:
        part = pending.pop(0)
        started = time.perf_counter()
        try:
            if part is not batch:  # a retried half
                prepared = prepare_batch([w for _, w in part], order, graph.personal)
            await _write_batch(graph, prepared, before, result, counts, order, create)
        except ConflictError:
            if not create:
                raise  # by MERGE too: an id used by a node of another label
            # Another writer created one of the nodes since the batch looked (or an id is
            # another label's): nothing was written. Look again, and write by MERGE.
            create, before.states = False, None
            pending.insert(0, part)
            continue
        except OrgGraphError as error:
            why = _outcome_unknown(error)
            if why is None:
                raise
            # The lost attempt may have committed: what it found absent may exist now.
            create = False
            failures += 1
            lines = f"lines {part[0][0]}-{part[-1][0]}"
            if failures > MAX_RETRIES:
                raise DatabaseUnavailableError(
                    f"{counts.name}: a batch of {len(part):,} rows ({lines}): {why}; gave up "
                    f"after {MAX_RETRIES} retries. Earlier batches are in; every write is "
                    "idempotent, so running the import again finishes it",
                    file=counts.name,
                    line=part[0][0],
                ) from error
            sizer.failed()
            half = max(1, len(part) // 2)
            pending[:0] = [part[:half], part[half:]] if len(part) > 1 else [part]
            counts.retried += 1
            result.retried += 1
            if say:
                say(
                    f"{counts.name}: a batch of {len(part):,} rows ({lines}): {why}; writes "
                    f"are idempotent: writing it again in batches of {half:,}"
                )
            continue
        sizer.took(len(part), time.perf_counter() - started)
        result.rows_imported += len(part)


async def _require_known(
    tx: Tx, label: str, records: list[Record], known: tuple[Mapping[str, set[str]], ...]
) -> None:
    """The references ``records`` set must name nodes that exist: those this import wrote
    or found are known to; the others are looked up by the write layer's check
    (NOT_FOUND naming them)."""
    wanted: dict[str, set[str]] = {}
    refs = REFS.get(label, {})
    for record in records:
        for name, target in record.refs().items():
            if target is None:
                continue
            other = refs[name].other_label
            if all(target not in ids.get(other, ()) for ids in known):
                wanted.setdefault(name, set()).add(target)
    for name, targets in wanted.items():
        await require_existing(tx, REFS[label][name].other_label, targets, f"{label}.{name}")


@functools.cache
def node_states_query(labels: tuple[LiteralString, ...]) -> LiteralString:
    """The stored properties of the nodes among ``$ids[label]`` that exist, for every label
    in one statement, each label's as one list of ``[id, properties]`` pairs: one record
    per label instead of one per node (the driver's cost per record dominated the read)."""
    query: LiteralString = ""
    for label in labels:
        query += (
            "CALL () { UNWIND $ids." + label + " AS id MATCH (n:" + label + " {id: id}) "
            "RETURN collect([n.id, properties(n)]) AS " + label + " } "
        )
    return query + "RETURN [" + ", ".join(labels) + "] AS states"


@functools.cache
def update_nodes_query(label: LiteralString) -> LiteralString:
    """A partial update: set properties on nodes that exist (absent ones are left out)."""
    return "UNWIND $rows AS row MATCH (n:" + label + " {id: row.id}) SET n += row.props"


States = dict[str, dict[str, Any]]
"""label -> id -> stored properties, of the nodes that exist."""


async def _states_of(ids: dict[str, list[str]], tx: Tx) -> States:
    """Each label's stored states (no round trip for the labels without ids: after a
    batch of new nodes, none)."""
    states: States = {label: {} for label in ids}
    asked = {label: label_ids for label, label_ids in ids.items() if label_ids}
    labels = tuple(RECORDS[label].label for label in asked)
    if not labels:
        return states
    record = await tx.single(
        node_states_query(labels), ids=dict(zip(labels, asked.values(), strict=True))
    )
    found = record["states"] if record else [[] for _ in labels]
    states.update({label: dict(pairs) for label, pairs in zip(asked, found, strict=True)})
    return states


@dataclass
class Before:
    """The stored states of a batch's nodes (``ids``) before its first attempt: read by the
    first attempt's transaction as its first statement, and kept for the retries (the
    read itself changes nothing, so it holds even when that attempt's outcome is lost)."""

    ids: dict[str, list[str]]
    states: States | None = None

    async def read(self, tx: Tx) -> States:
        if self.states is None:
            self.states = await _states_of(self.ids, tx)
        return self.states


def _ids(batch: Iterable[RowWrites]) -> dict[str, list[str]]:
    """The ids each label's nodes (full or partial) have in ``batch``."""
    ids: dict[str, set[str]] = {}
    for writes in batch:
        for label, record in writes.nodes:
            ids.setdefault(label, set()).add(record.id)
        for update in writes.updates:
            ids.setdefault(update.label, set()).add(update.id)
    return {label: sorted(i) for label, i in ids.items()}


@dataclass
class Batch:
    """What a batch of rows writes, duplicates merged (the last row wins), with the rows
    of the statements creating its nodes built in advance (``bulk.new_node_row``: off the
    transaction, while the database commits the previous batch)."""

    nodes: dict[str, dict[str, Record]]
    updates: dict[str, dict[str, dict[str, Any]]]
    rels: dict[RelationshipKind, dict[tuple[str, str, Any], dict[str, Any]]]
    ids: dict[str, list[str]]
    new_rows: dict[str, dict[str, dict[str, Any]]]


def prepare_batch(batch: list[RowWrites], order: list[str], personal: PersonalData | None) -> Batch:
    nodes: dict[str, dict[str, Record]] = {label: {} for label in order}
    updates: dict[str, dict[str, dict[str, Any]]] = {}
    rels: dict[RelationshipKind, dict[tuple[str, str, Any], dict[str, Any]]] = {}
    for writes in batch:
        for label, record in writes.nodes:
            nodes.setdefault(label, {})[record.id] = record
        for update in writes.updates:
            updates.setdefault(update.label, {}).setdefault(update.id, {}).update(update.props)
        for kind, rel in writes.relationships:
            rels.setdefault(kind, {})[(rel["from"], rel["to"], rel["key"])] = rel
    new_rows = {
        label: {i: new_node_row(r, personal) for i, r in records.items()}
        for label, records in nodes.items()
    }
    return Batch(nodes, updates, rels, _ids(batch), new_rows)


async def _write_batch(
    graph: Graph,
    batch: Batch,
    before: Before,
    result: MappingResult,
    counts: SourceResult,
    order: list[str],
    create: bool,
) -> None:
    """One transaction: the batch's nodes (label by label, in mapping order), partial
    updates, then its relationships; duplicates within the batch are merged (the last row
    wins). With ``create``, the nodes the first read found absent are created
    (``CREATE``, no ``MERGE``: see bulk.create_new_query), customers created here
    with their journeys.

    What the batch did to each node is measured, not assumed: the stored properties of the
    batch's nodes are read first (``Before``: once, so a retry compares with the state
    before the first attempt, not with what a lost attempt committed) and, for those that
    existed, again at the end of the write transaction."""
    nodes, updates, rels, ids = batch.nodes, batch.updates, batch.rels, batch.ids
    known = result.known

    async def work(tx: Tx) -> tuple[WriteSummary, dict[str, dict[str, Any]]]:
        summary = WriteSummary()
        previous = await before.read(tx)
        written: dict[str, set[str]] = {}  # by this transaction, so far
        new_customers: set[str] = set()  # created by this transaction
        for label, records in nodes.items():
            if records:
                batch_records = list(records.values())
                await _require_known(tx, label, batch_records, (known, written))
                stored = previous.get(label, {})
                record_label = RECORDS[label].label
                summary.merge(
                    await write_nodes(
                        tx,
                        record_label,
                        batch_records,
                        stored if create else None,
                        new_customers=new_customers,
                        new_rows=batch.new_rows.get(label),
                    )
                )
                written[label] = set(records)
                if create and record_label == "Customer":
                    new_customers |= set(records) - set(stored)
        for label, changes in updates.items():
            rows = [
                {"id": i, "props": seal_properties(tx.personal, label, i, p)}
                for i, p in changes.items()
                if i in previous.get(label, {})
            ]
            if rows:
                summary.add(await tx.run(update_nodes_query(RECORDS[label].label), rows=rows))
        for kind, rows_ in rels.items():
            summary.merge(await write_relationships(tx, kind, list(rows_.values())))
        existed = {label: sorted(set(i) & set(previous[label])) for label, i in ids.items()}
        return summary, await _states_of(existed, tx)

    summary, after = await graph.write(work)
    previous = before.states or {}
    result.writes.merge(summary)
    for label in ids:  # nodes that exist now: references to them need no look-up
        known.setdefault(label, set()).update(nodes.get(label, {}), previous.get(label, {}))
    for label, label_ids in ids.items():
        tally = counts.nodes.setdefault(label, NodeCounts())
        for node_id in label_ids:
            if node_id not in previous[label]:
                if node_id in nodes.get(label, {}):
                    tally.created.add(node_id)
                    tally.seen.add(node_id)
                else:
                    tally.missing.add(node_id)
                continue
            tally.seen.add(node_id)
            if after[label].get(node_id) != previous[label][node_id]:
                tally.updated.add(node_id)
    for kind, rows_ in rels.items():
        counts.relationships[kind.value] = counts.relationships.get(kind.value, 0) + len(rows_)
