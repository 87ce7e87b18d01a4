"""Enums whose members' values are their names, declared on one line.

The graph stores an enum member as its name (``"TEAM"``), so a class body would spell
every name twice (``TEAM = "TEAM"``). ``NamedEnum("TeamKind", "GROUP TEAM")`` spells it
once. mypy types this functional form only when it is called on ``enum.Enum`` itself,
so that is what it is shown; at run time the subclass gives each member its name.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

__all__ = ["NamedEnum"]

if TYPE_CHECKING:
    from enum import Enum as NamedEnum
else:

    class NamedEnum(enum.Enum):
        @staticmethod
        def _generate_next_value_(
            name: str, start: int, count: int, last_values: list[object]
        ) -> str:
            return name
