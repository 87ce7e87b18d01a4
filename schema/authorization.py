"""Who may read and write what: enforced here, once, for every field of the schema.

Roles (``orggraph.auth.Role``; a principal may hold several):

* ADMIN: everything.
* WRITER: every query but ``cypher``, every mutation, the subscriptions.
* ANALYST: every query (all numbers, ``cypher``), the subscriptions; no mutation.
* FUNCTION (a team member, ``Principal.teams``): the root fields of
  ``FUNCTION_ROOT_FIELDS`` only, scoped by the argument named there; and, on every
  field at any depth, KPIs, measurements and SLAs only of its teams (accountable
  for / shared with a KPI, provider / consumer of an SLA). A single object out of
  reach is FORBIDDEN, a list or connection simply leaves it out.

A principal without any of these roles may do nothing. Personal fields
(``graph.model.PERSONAL_PROPERTIES``) read as null without ``can_read_pii``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import GraphQLError, GraphQLFieldResolver, GraphQLResolveInfo, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.utils.await_maybe import AwaitableOrValue, await_maybe

from orggraph.auth import Principal, Role
from orggraph.errors import ForbiddenError
from orggraph.graph.model import PERSONAL_PROPERTIES, RelationshipKind
from orggraph.graph.visibility import Visibility, visibility
from orggraph.schema import filters


class Scope(enum.Enum):
    ANY = "ANY"  # organisation structure and aggregates
    OWN_TEAM = "OWN_TEAM"  # the argument must name one of the principal's teams
    VISIBLE_KPI = "VISIBLE_KPI"  # the argument (when given) must name a KPI it sees
    VISIBLE_SLA = "VISIBLE_SLA"
    KPI_OR_OWN_TEAM = "KPI_OR_OWN_TEAM"  # subscriptions: a visible KPI or an own team
    SLA_OR_OWN_TEAM = "SLA_OR_OWN_TEAM"
    DENIED = "DENIED"


FUNCTION_ROOT_FIELDS: dict[str, tuple[Scope, tuple[str, ...]]] = {
    # organisation structure: readable by every team member
    **{
        name: (Scope.ANY, ())
        for name in (
            "process",
            "processes",
            "step",
            "steps",
            "channel",
            "channels",
            "campaign",
            "campaigns",
            "service",
            "services",
            "system",
            "systems",
            "person",
            "people",
            "teams",
        )
    },  # fmt: skip
    # cross-silo aggregates and one customer's journey (personal fields masked)
    **{
        name: (Scope.ANY, ())
        for name in (
            "valueStream",
            "journeyMap",
            "journeyMapCases",
            "channelCoverage",
            "journey",
            "customer",
        )
    },
    "team": (Scope.OWN_TEAM, ("id",)),
    "teamService": (Scope.OWN_TEAM, ("teamId",)),
    "kpi": (Scope.VISIBLE_KPI, ("id",)),
    "kpiLineage": (Scope.VISIBLE_KPI, ("kpiId",)),
    "kpiValue": (Scope.VISIBLE_KPI, ("kpiId",)),
    "kpis": (Scope.ANY, ()),
    "measurement": (Scope.ANY, ()),
    "sla": (Scope.VISIBLE_SLA, ("id",)),
    "slaCompliance": (Scope.VISIBLE_SLA, ("id",)),
    "slas": (Scope.ANY, ()),
    "slaBreaches": (Scope.SLA_OR_OWN_TEAM, ("slaId", "teamId")),
    "kpiUpdated": (Scope.KPI_OR_OWN_TEAM, ("kpiId", "teamId")),
    "slaBreached": (Scope.SLA_OR_OWN_TEAM, ("slaId", "teamId")),
    # the history of the organisation: a team's own (docs/organisation-changes.md)
    "changes": (Scope.OWN_TEAM, ("entityId",)),
    "organisationChanged": (Scope.OWN_TEAM, ("teamId",)),
    # organisation-wide analytics, raw access and bulk customer data
    **{
        name: (Scope.DENIED, ())
        for name in (
            "attribution",
            "reorgImpact",
            "reorganisationPreview",
            "informationGaps",
            "cypher",
            "node",
            "customers",
            "touchpoint",
            "touchpoints",
            "deal",
            "deals",
            "businessObject",
            "businessObjects",
            "touchpointAdded",
            "touchpointRemoved",
        )
    },  # fmt: skip
}

ROOT_TYPES = ("Query", "Mutation", "Subscription")
_VISIBILITY_KEY = "visibility"


def root_rule(principal: Principal, operation: str, field: str) -> Scope:
    """The scope under which ``principal`` may call a root field (DENIED: not at all)."""
    if principal.has(Role.ADMIN):
        return Scope.ANY
    if operation == "Mutation":
        return Scope.ANY if Role.WRITER in principal.roles else Scope.DENIED
    if field == "cypher":
        return Scope.ANY if Role.ANALYST in principal.roles else Scope.DENIED
    if Role.WRITER in principal.roles or Role.ANALYST in principal.roles:
        return Scope.ANY
    if Role.FUNCTION in principal.roles:
        return FUNCTION_ROOT_FIELDS.get(field, (Scope.DENIED, ()))[0]
    return Scope.DENIED


def is_function_only(principal: Principal) -> bool:
    return not (principal.roles & {Role.ADMIN, Role.WRITER, Role.ANALYST})


class Authorization(SchemaExtension):
    """Checks each root field against the principal's roles, filters what a team member
    reaches at any depth, and masks personal fields."""

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> AwaitableOrValue[object]:
        principal: Principal = info.context.principal
        unchecked: AwaitableOrValue[object]
        if principal.has(Role.ADMIN) and principal.can_read_pii:
            unchecked = _next(root, info, *args, **kwargs)
            return unchecked
        parent = info.parent_type.name
        if not principal.can_read_pii and info.field_name in _personal_fields(parent):
            return None
        if parent in ROOT_TYPES or is_function_only(principal):
            return self._checked(_next, root, info, principal, *args, **kwargs)
        unchecked = _next(root, info, *args, **kwargs)
        return unchecked

    async def _checked(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        principal: Principal,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        parent = info.parent_type.name
        function_only = is_function_only(principal)
        seen = await _visibility(info, principal) if function_only else None
        if parent in ROOT_TYPES:
            scope = root_rule(principal, parent, info.field_name)
            _check_root(scope, principal, info.field_name, kwargs, seen)
        if function_only:
            _check_partly_visible(root, info, kwargs)
        result = await await_maybe(_next(root, info, *args, **kwargs))
        if seen is None or isinstance(result, AsyncIterator):
            return result
        return await _within(result, seen, info)


def guard_subscriptions(schema: GraphQLSchema) -> None:
    """Applies the root rule when a subscription starts.

    graphql-core opens a subscription's event stream (the field's ``subscribe``) without
    the middleware that carries ``Authorization.resolve``; that hook only sees each
    event as it is resolved. Wrapping ``subscribe`` refuses a forbidden subscription at
    once instead of leaving the client waiting for an event it will never get."""
    if schema.subscription_type is None:
        return
    for field in schema.subscription_type.fields.values():
        if field.subscribe is not None:
            field.subscribe = _checked_subscribe(field.subscribe)


def _checked_subscribe(subscribe: GraphQLFieldResolver) -> GraphQLFieldResolver:
    async def checked(root: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        principal: Principal = info.context.principal
        seen = await _visibility(info, principal) if is_function_only(principal) else None
        scope = root_rule(principal, "Subscription", info.field_name)
        try:
            _check_root(scope, principal, info.field_name, kwargs, seen)
        except ForbiddenError as error:
            # Raised outside the operation whose errors ErrorCodes classifies: the code
            # travels on the GraphQLError itself.
            raise GraphQLError(error.message, extensions=error.extensions()) from error
        return await await_maybe(subscribe(root, info, **kwargs))

    return checked


def _personal_fields(type_name: str) -> frozenset[str]:
    # GraphQL type names are the labels, field names the (camelCase) property names.
    return PERSONAL_PROPERTIES.get(type_name, frozenset())


async def visible_to(info: GraphQLResolveInfo[Any]) -> Visibility:
    """What the request's team member sees (loaded once per request)."""
    return await _visibility(info, info.context.principal)


async def _visibility(info: GraphQLResolveInfo[Any], principal: Principal) -> Visibility:
    """Loaded once per request (one query), shared by every field."""
    extras: dict[str, Any] = info.context.extras
    pending = extras.get(_VISIBILITY_KEY)
    if pending is None:
        pending = asyncio.ensure_future(visibility(info.context.graph, principal.teams))
        extras[_VISIBILITY_KEY] = pending
    return await asyncio.shield(pending)


def _check_root(
    scope: Scope,
    principal: Principal,
    field: str,
    arguments: dict[str, Any],
    seen: Visibility | None,
) -> None:
    if scope is Scope.ANY:
        return
    if scope is Scope.DENIED or seen is None:
        roles = ", ".join(sorted(role.value for role in principal.roles)) or "no role"
        raise ForbiddenError(f"`{field}` is not allowed for {roles}", field=field)
    names = FUNCTION_ROOT_FIELDS[field][1]
    # Resolvers see Python argument names; a subscription's stream sees GraphQL ones.
    values = [arguments.get(_snake(name), arguments.get(name)) for name in names]
    allowed = {
        Scope.OWN_TEAM: lambda: values[0] in seen.teams,
        Scope.VISIBLE_KPI: lambda: values[0] in seen.kpis,
        Scope.VISIBLE_SLA: lambda: values[0] in seen.slas,
        Scope.KPI_OR_OWN_TEAM: lambda: values[0] in seen.kpis or values[1] in seen.teams,
        Scope.SLA_OR_OWN_TEAM: lambda: values[0] in seen.slas or values[1] in seen.teams,
    }[scope]()
    if not allowed:
        wanted = " or ".join(f"`{name}`" for name in names)
        raise ForbiddenError(
            f"`{field}`: {wanted} must name one of your teams' own (teams {sorted(seen.teams)})",
            field=names[0],
        )


# Labels a team member sees only in part (its teams' KPIs, their measurements, its SLAs).
PARTLY_VISIBLE = frozenset({"KPI", "Measurement", "SLA"})


def _check_partly_visible(
    root: Any, info: GraphQLResolveInfo[Any], arguments: dict[str, Any]
) -> None:
    """A team member may not count, aggregate or filter by what it does not see: a total
    or aggregate of KPIs, measurements or SLAs, or a where that reaches them through a
    relationship, would tell what the lists leave out."""
    field = info.field_name
    if field in ("totalCount", "aggregate") and getattr(root, "label", None) in PARTLY_VISIBLE:
        raise ForbiddenError(
            f"`{field}` of {root.label} counts what is outside your teams'", field=field
        )
    where = arguments.get("where")
    if not where:
        return
    definition = info.parent_type.fields[field].args["where"]
    where_type = getattr(definition.type, "name", "")
    reached = filters.labels_reached(where_type.removesuffix("Where"), where)
    if reached & PARTLY_VISIBLE:
        raise ForbiddenError(
            f"`where` may not filter through {', '.join(sorted(reached & PARTLY_VISIBLE))}: "
            "it would tell what is outside your teams'",
            field="where",
        )


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


async def _within(value: Any, seen: Visibility, info: GraphQLResolveInfo[Any]) -> Any:
    """``value`` with what the team may not see left out (lists) or refused (objects)."""
    field = info.field_name
    if isinstance(value, list):
        visible = await asyncio.gather(*(_visible(item, seen, info) for item in value))
        return [item for item, shown in zip(value, visible, strict=True) if shown]
    edges = getattr(value, "edges", None)
    if isinstance(edges, list) and edges and hasattr(edges[0], "node"):
        visible = await asyncio.gather(*(_visible(edge.node, seen, info) for edge in edges))
        value.edges = [edge for edge, shown in zip(edges, visible, strict=True) if shown]
        return value
    if value is not None and not await _visible(value, seen, info):
        raise ForbiddenError(f"`{field}` is outside your teams' KPIs and SLAs", field=field)
    return value


async def _visible(item: Any, seen: Visibility, info: GraphQLResolveInfo[Any]) -> bool:
    kind = type(item).__name__
    if kind == "Kpi":
        return str(item.id) in seen.kpis
    if kind == "Measurement":
        return await _measured_kpi(item, info) in seen.kpis
    if kind == "Sla":
        return str(item.id) in seen.slas
    return True


async def _measured_kpi(measurement: Any, info: GraphQLResolveInfo[Any]) -> str | None:
    """The KPI a measurement belongs to, by its HAS_MEASUREMENT relationship (not by its
    id, which a writer chooses): batched with every other look-up of the request."""
    loader = info.context.loaders.related(RelationshipKind.KPI_HAS_MEASUREMENT, False)
    found = await loader.load((str(measurement.id), 1))
    return str(found[0].props["id"]) if found else None
