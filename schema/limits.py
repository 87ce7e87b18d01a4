"""Document limits checked in one pass, before graphql-core's validation runs.

A fragment spread twice by the next one, twenty times over, is an 800-byte
document that expands to a million selections: every walk that spreads
fragments in place (graphql-core's rules, a depth or alias count) is then
exponential. Here each definition's body is scanned once, iteratively, and each
fragment's expanded size, depth and alias count are computed once from its
body and the fragments it spreads (memoised, spreads add up). So the work is
linear in the document whatever its shape, and the refusal comes before any
walk that expands.

The pass refuses, in this order:

* a fragment that spreads itself (directly or through others), as
  GRAPHQL_VALIDATION_FAILED, the way the spec's rule words it;
* a document whose validation work exceeds ``max_selections`` with
  QUERY_TOO_COMPLEX: the selections every definition expands to (fragments spread
  in place), plus the pairs of fields sharing a response name, and of fragments,
  in one selection set, which the overlap rule compares with each other;
* an operation nested deeper than ``max_depth`` fields (introspection fields not
  counted, as Strawberry's ``QueryDepthLimiter`` did);
* more than ``max_aliases`` aliases over the operations, fragments expanded (as
  Strawberry's ``MaxAliasesLimiter`` did).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from orggraph.errors import GRAPHQL_VALIDATION_FAILED, QueryTooComplexError

VALIDATION_FAILED = GRAPHQL_VALIDATION_FAILED


@dataclass
class Body:
    """What one definition holds by itself (the fragments it spreads not followed)."""

    selections: int = 0  # fields, inline fragments and spreads
    aliases: int = 0
    depth: int = 0  # deepest nesting of (non-introspection) fields with a selection set
    pairs: int = 0  # same-name fields and distinct fragments, paired per selection set
    # (fragment name, fields enclosing the spread; None under an introspection field)
    spreads: list[tuple[str, int | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Expanded:
    """A definition with the fragments it spreads in place."""

    selections: int
    aliases: int
    depth: int


@dataclass(frozen=True)
class DocumentSize:
    operations: dict[str, Expanded]  # by operation name ("anonymous" when unnamed)
    fragments: dict[str, Expanded]
    work: int  # expanded selections of every definition, plus the compared pairs
    visited: int  # selection nodes scanned: each node of the document once
    cycle: str | None = None  # a fragment that spreads itself


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def scan(selection_set: SelectionSetNode) -> Body:
    """One definition's body, without recursion (nesting is bounded by the parser only)."""
    body = Body()
    # A group is one selection set with the inline fragments it holds: the fields the
    # overlap rule merges together. (selection sets, enclosing fields, counted for depth)
    groups: list[tuple[list[SelectionSetNode], int, bool]] = [([selection_set], 0, True)]
    while groups:
        pending, depth, counted = groups.pop()
        if counted:
            body.depth = max(body.depth, depth)
        names: Counter[str] = Counter()
        fragments: set[str] = set()
        while pending:
            for node in pending.pop().selections:
                body.selections += 1
                if isinstance(node, FieldNode):
                    names[node.alias.value if node.alias else node.name.value] += 1
                    body.aliases += node.alias is not None
                    if node.selection_set is not None:
                        inner = counted and not node.name.value.startswith("__")
                        groups.append(([node.selection_set], depth + 1, inner))
                elif isinstance(node, InlineFragmentNode):
                    pending.append(node.selection_set)
                elif isinstance(node, FragmentSpreadNode):
                    fragments.add(node.name.value)
                    body.spreads.append((node.name.value, depth if counted else None))
        body.pairs += sum(_pairs(count) for count in names.values()) + _pairs(len(fragments))
    return body


def _saturated(value: int, cap: int) -> int:
    # Above the cap the exact number does not matter; keeps the integers small.
    return min(value, cap + 1)


class _Expander:
    def __init__(self, bodies: dict[str, Body], cap: int) -> None:
        self.bodies = bodies
        self.cap = cap
        self.done: dict[str, Expanded] = {}
        self.cycle: str | None = None

    def expand_all(self) -> None:
        """Post-order over the spreads, without recursion; stops at the first cycle."""
        for root in self.bodies:
            if root in self.done:
                continue
            path: list[tuple[str, Iterator[tuple[str, int | None]]]] = [
                (root, iter(self.bodies[root].spreads))
            ]
            on_path = {root}
            while path:
                name, spreads = path[-1]
                for target, _ in spreads:
                    if target in on_path:
                        self.cycle = target
                        return
                    if target in self.bodies and target not in self.done:
                        path.append((target, iter(self.bodies[target].spreads)))
                        on_path.add(target)
                        break
                else:
                    path.pop()
                    on_path.discard(name)
                    self.done[name] = self.combine(self.bodies[name])

    def combine(self, body: Body) -> Expanded:
        """A body with its (already expanded) fragments; unknown ones count as nothing
        here (validation reports them)."""
        selections, aliases, depth = body.selections, body.aliases, body.depth
        for target, enclosing in body.spreads:
            inner = self.done.get(target)
            if inner is None:
                continue
            selections = _saturated(selections + inner.selections, self.cap)
            aliases = _saturated(aliases + inner.aliases, self.cap)
            if enclosing is not None:
                depth = max(depth, enclosing + inner.depth)
        return Expanded(selections, aliases, depth)


def measure(document: DocumentNode, cap: int) -> DocumentSize:
    """Sizes of every definition of ``document``; numbers above ``cap`` saturate at cap+1."""
    fragment_bodies: dict[str, Body] = {}
    operation_bodies: dict[str, Body] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragment_bodies.setdefault(definition.name.value, scan(definition.selection_set))
        elif isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else "anonymous"
            operation_bodies.setdefault(name, scan(definition.selection_set))
    expander = _Expander(fragment_bodies, cap)
    expander.expand_all()
    bodies = [*fragment_bodies.values(), *operation_bodies.values()]
    visited = sum(body.selections for body in bodies)
    if expander.cycle is not None:
        return DocumentSize({}, {}, 0, visited, cycle=expander.cycle)
    operations = {name: expander.combine(body) for name, body in operation_bodies.items()}
    expanded = [*expander.done.values(), *operations.values()]
    work = sum(item.selections for item in expanded) + sum(body.pairs for body in bodies)
    return DocumentSize(operations, expander.done, _saturated(work, cap), visited)


@dataclass(frozen=True)
class Limits:
    max_selections: int
    max_depth: int
    max_aliases: int

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        """The document's refusals (empty: within every limit)."""
        size = measure(document, max(self.max_selections, self.max_aliases))
        if size.cycle is not None:
            message = f"Cannot spread fragment '{size.cycle}' within itself."
            return [GraphQLError(message, extensions={"code": VALIDATION_FAILED})]
        if size.work > self.max_selections:
            error = QueryTooComplexError(
                f"the document expands to more than {self.max_selections} selections, the "
                "limit (fragments counted where they are spread, plus the pairs of same-name "
                "fields or fragments of one selection set, which validation compares)",
                maxSelections=self.max_selections,
            )
            return [GraphQLError(error.message, extensions=error.extensions())]
        errors = [
            GraphQLError(
                f"'{name}' exceeds maximum operation depth of {self.max_depth}",
                extensions={"code": VALIDATION_FAILED, "maxDepth": self.max_depth},
            )
            for name, operation in size.operations.items()
            if operation.depth > self.max_depth
        ]
        aliases = sum(operation.aliases for operation in size.operations.values())
        if aliases > self.max_aliases:
            errors.append(
                GraphQLError(
                    f"{aliases} aliases found. Allowed: {self.max_aliases}",
                    extensions={"code": VALIDATION_FAILED, "maxAliases": self.max_aliases},
                )
            )
        return errors


class DocumentCheck(SchemaExtension):
    """A validation step on a parsed document that no earlier step refused: the errors
    ``check`` finds become the request's errors. A check that ``replaces_validation``
    sets them even when there are none, so Strawberry does not validate again."""

    replaces_validation = False

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        raise NotImplementedError

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            errors = self.check(document)
            if errors or self.replaces_validation:
                context.pre_execution_errors = errors
        yield


class DocumentLimits(DocumentCheck):
    """Runs ``Limits.check`` first in the validation step (before the cached validation
    and the cost estimate), for every transport: HTTP GET and POST, WebSocket."""

    def __init__(self, limits: Limits, remembered: int = 256) -> None:
        super().__init__()
        self.limits = limits
        # Documents within the limits, by identity (the parser's cache hands the same
        # document for the same text): kept with their id so that it is not reused.
        self.remembered = remembered
        self.passed: OrderedDict[int, DocumentNode] = OrderedDict()

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        # Set before validation: Strawberry and CachedValidation then skip it.
        key = id(document)
        if self.passed.get(key) is document:
            self.passed.move_to_end(key)
            return []
        errors = self.limits.check(document)
        if not errors:
            self.passed[key] = document
            while len(self.passed) > self.remembered:
                self.passed.popitem(last=False)
        return errors
