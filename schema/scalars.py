"""The DateTime scalar, with a range every input can be computed with.

Strawberry's DateTime accepts any ISO 8601 text Python can represent, such as
``0001-01-01T00:00:00+01:00``: the service then fails converting it to UTC (a
year before 1) or computing a period or window from it, an INTERNAL error for
what is bad input. Here a DateTime input must parse and fall, in UTC, between
``MIN_DATETIME`` and ``MAX_DATETIME`` (a year of margin on each side for the
windows and periods computed from it), else it is BAD_USER_INPUT:

* in a variable, graphql-core names the variable and the path within it;
* in a literal (argument, input field, list item, variable default),
  ``DateTimeInRange`` names the argument or input field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dateutil.parser  # type: ignore[import-untyped]
from graphql import (
    ArgumentNode,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
    get_named_type,
)
from strawberry.schema.types.base_scalars import isoformat, wrap_parser
from strawberry.types.scalar import ScalarDefinition

MIN_DATETIME = datetime(2, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(9998, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
_RANGE = f"{MIN_DATETIME.date().isoformat()} and {MAX_DATETIME.date().isoformat()} (UTC)"


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date-time within the range; ValueError otherwise. Naive values are
    kept naive (the model reads them as UTC)."""
    try:
        value: datetime = dateutil.parser.isoparse(text)  # what Strawberry's DateTime parses
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time ({error})") from error
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as error:
        raise ValueError(f"{text!r} is not a date-time between {_RANGE}") from error
    if not MIN_DATETIME <= utc <= MAX_DATETIME:
        raise ValueError(f"{text!r} is not a date-time between {_RANGE}")
    return value


def _parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
    if not isinstance(node, StringValueNode):
        raise ValueError("a DateTime is written as a string")
    try:
        return parse_datetime(node.value)
    except ValueError:
        # DateTimeInRange refuses the document, naming the field; nothing runs with it.
        return node.value


DATETIME = ScalarDefinition(
    name="DateTime",
    description="Date with time (isoformat)",
    specified_by_url=None,
    serialize=isoformat,
    parse_value=wrap_parser(parse_datetime, "DateTime"),
    parse_literal=_parse_literal,
    origin=datetime,
)


class DateTimeInRange(ValidationRule):
    """Refuses a DateTime literal that does not parse or is out of range, naming the
    argument or input field that holds it (BAD_USER_INPUT)."""

    def enter_string_value(
        self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
    ) -> None:
        input_type = self.context.get_input_type()
        if input_type is None or get_named_type(input_type).name != DATETIME.name:
            return
        try:
            parse_datetime(node.value)
        except ValueError as error:
            field = _holder(parent, ancestors)
            where = f"'{field}': " if field else ""
            self.report_error(
                GraphQLError(
                    f"{where}{error}",
                    node,
                    extensions={"code": "BAD_USER_INPUT", "field": field},
                )
            )


def _holder(parent: Any, ancestors: Any) -> str | None:
    """The argument or input field a value belongs to (through a list, if any)."""
    for candidate in [parent, *reversed(list(ancestors or ()))]:
        if isinstance(candidate, (ArgumentNode, ObjectFieldNode)):
            return candidate.name.value
        if isinstance(candidate, VariableDefinitionNode):  # a variable's default value
            return f"${candidate.variable.name.value}"
    return None
