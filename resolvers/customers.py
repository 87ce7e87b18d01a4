"""Customers, their deals, and the business objects their events concern."""

from __future__ import annotations

import dataclasses

from orggraph.context import Info
from orggraph.errors import ForbiddenError
from orggraph.graph import nodes
from orggraph.graph.personal import PersonalDataError
from orggraph.resolvers.entities import Entity, entity_mutation, entity_query, node_filter
from orggraph.schema.inputs import (
    BusinessObjectFilter,
    BusinessObjectInput,
    CustomerFilter,
    CustomerInput,
    DealFilter,
    DealInput,
)
from orggraph.schema.types import BusinessObject, Customer, Deal


def customer_filter(info: Info, value: CustomerFilter | None) -> nodes.NodeFilter:
    """The generic filter, with ``email`` matched on its look-up hash (``emailHash``):
    the graph holds emails only encrypted. Only a principal that may read them may ask."""
    if value is None or value.email is None:
        return node_filter(value)
    if not info.context.principal.can_read_pii:
        raise ForbiddenError(
            "filtering customers by email needs the `pii` claim", field="filter.email"
        )
    personal = info.context.graph.personal
    if personal is None:
        raise PersonalDataError("emails cannot be looked up: no personal-data key is set")
    hashes = personal.lookup_hashes("Customer", "email", value.email)
    generic = node_filter(dataclasses.replace(value, email=None))
    return dataclasses.replace(generic, hashed=("emailHash", hashes))


ENTITIES = (
    Entity(
        Customer, CustomerInput, "customer", "customers", CustomerFilter, filter_of=customer_filter
    ),
    Entity(Deal, DealInput, "deal", "deals", DealFilter),
    Entity(
        BusinessObject,
        BusinessObjectInput,
        "business object",
        "business objects",
        BusinessObjectFilter,
        describe={
            "get": "A business object (order, item, ...) by id.",
            "list": "Business objects, by id.",
        },
    ),
)
CustomersQuery = entity_query("CustomersQuery", *ENTITIES)
CustomersMutation = entity_mutation("CustomersMutation", *ENTITIES)
