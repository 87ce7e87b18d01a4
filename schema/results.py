"""Result types read field by field from the graph layer's typed results."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def from_fields(cls: type[T], source: object) -> T:
    """An instance of the Strawberry type ``cls`` whose every field is the same-named
    attribute of ``source`` (a dataclass of ``graph/``): the type lists what the API
    shows, the source may hold more (what the history records, for instance)."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    values: dict[str, Any] = {name: getattr(source, name) for name in names}
    return cls(**values)
