"""Who is asking: the principal every request carries, and the roles it may hold.

The authentication layer (bearer JWT or static API key) turns a request into a
``Principal``; the schema layer decides from it what may be read or written.
With no authentication configured the service runs for one local user and every
request carries ``LOCAL_ADMIN`` (the service then only binds to loopback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Role(str, Enum):
    ADMIN = "ADMIN"  # everything
    WRITER = "WRITER"  # mutations and imports through the API
    ANALYST = "ANALYST"  # read-only Cypher, all numbers
    FUNCTION = "FUNCTION"  # a team member: its own team's part of the graph


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    # May see fields marked personal (Customer.email, ...) unmasked.
    can_read_pii: bool = False

    def has(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


LOCAL_ADMIN = Principal(subject="local", roles=frozenset({Role.ADMIN}), can_read_pii=True)


def require_cypher_access(principal: Principal) -> None:
    """Read-only Cypher (POST /cypher, the ``cypher`` field, ``orggraph cypher``) is for
    analysts and admins only; everyone else gets FORBIDDEN."""
    from orggraph.errors import ForbiddenError

    if not principal.has(Role.ANALYST):
        raise ForbiddenError(
            "read-only Cypher needs the ANALYST role", field="cypher", subject=principal.subject
        )
