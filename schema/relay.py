"""Relay-style cursor pagination (keyset on id: stable under concurrent writes)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import strawberry

from orggraph.errors import BadInputError
from orggraph.graph.filters import SortKey, sort_values

# The page size of a connection when `first` is absent.
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")
_PREFIX = "id:"


def encode_cursor(node_id: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + node_id).encode()).decode()


def decode_cursor(cursor: str | None, argument: str = "after") -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadInputError(f"'{argument}' is not a valid cursor", field=argument) from error
    if not raw.startswith(_PREFIX):
        raise BadInputError(f"'{argument}' is not a valid cursor", field=argument)
    return raw[len(_PREFIX) :]


_SORTED_PREFIX = "k:"


def encode_sort_cursor(keys: Sequence[SortKey], props: dict[str, Any], rel: dict[str, Any]) -> str:
    """The cursor of a row in ``keys`` order (then id): its values of the keys, so the
    next page starts right after it whatever was written since (a keyset page)."""
    return cursor_of([key.token for key in keys], sort_values(tuple(keys), props, rel))


def cursor_of(tokens: list[str], values: list[Any]) -> str:
    """The cursor of a row whose sort values (then id) are ``values``, under the sort keys
    of these ``tokens`` (``SortKey.token``): its id alone without keys."""
    if not tokens:
        return encode_cursor(values[-1])
    payload = {"sort": tokens, "after": values}
    raw = _SORTED_PREFIX + json.dumps(payload, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_sort_cursor(
    cursor: str | None, keys: Sequence[SortKey], argument: str = "after"
) -> list[Any] | None:
    """The sort values (then id) a cursor of the same sort carries."""
    if cursor is None:
        return None
    if not keys:
        return [decode_cursor(cursor, argument)]
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        payload = json.loads(raw.removeprefix(_SORTED_PREFIX))
        tokens, values = payload["sort"], payload["after"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        raise BadInputError(f"'{argument}' is not a valid cursor", field=argument) from error
    if not raw.startswith(_SORTED_PREFIX) or tokens != [key.token for key in keys]:
        raise BadInputError(
            f"'{argument}' is a cursor of another sort: page with the sort that gave it",
            field=argument,
        )
    if not isinstance(values, list) or len(values) != len(keys) + 1:
        raise BadInputError(f"'{argument}' is not a valid cursor", field=argument)
    return values


def page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise BadInputError(f"'first' must be between 0 and {maximum}, got {first}", field="first")
    return first


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: Sequence[str], *, has_next: bool, has_previous: bool) -> PageInfo:
        """The info of a page whose edges have ``cursors``, in order."""
        return cls(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field(description="The page's nodes, without edges.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]
