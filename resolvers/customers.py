"""Customers, their deals, and the business objects their events concern."""

from __future__ import annotations

import dataclasses

import strawberry

from orggraph.context import Info
from orggraph.errors import ForbiddenError
from orggraph.graph import nodes
from orggraph.graph.personal import PersonalDataError
from orggraph.resolvers.entities import (
    _connection,
    get_field,
    list_field,
    node_filter,
    upsert_many_field,
    upsert_one_field,
)
from orggraph.schema.inputs import (
    BusinessObjectFilter,
    BusinessObjectInput,
    CustomerFilter,
    CustomerInput,
    DealFilter,
    DealInput,
)
from orggraph.schema.relay import DEFAULT_PAGE_SIZE, Connection, decode_cursor, page_size
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


async def resolve_customers(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    filter: CustomerFilter | None = None,
) -> Connection[Customer]:
    limit = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
    rows = await nodes.list_nodes(
        info.context.graph,
        Customer.LABEL,
        customer_filter(info, filter),
        decode_cursor(after),
        limit + 1,
    )
    connection: Connection[Customer] = _connection(Customer, rows, limit, after is not None)
    return connection


@strawberry.type
class CustomersQuery:
    customer = get_field(Customer, "A customer by id.")
    customers = strawberry.field(
        resolver=resolve_customers, description="Customers, by id, filtered."
    )
    deal = get_field(Deal, "A deal by id.")
    deals = list_field(Deal, DealFilter, "Deals, by id, filtered.")
    business_object = get_field(BusinessObject, "A business object (order, item, ...) by id.")
    business_objects = list_field(BusinessObject, BusinessObjectFilter, "Business objects, by id.")


@strawberry.type
class CustomersMutation:
    upsert_customer = upsert_one_field(Customer, CustomerInput, "Create or update a customer.")
    upsert_customers = upsert_many_field(Customer, CustomerInput, "Create or update customers.")
    upsert_deal = upsert_one_field(Deal, DealInput, "Create or update a deal.")
    upsert_deals = upsert_many_field(Deal, DealInput, "Create or update deals.")
    upsert_business_object = upsert_one_field(
        BusinessObject, BusinessObjectInput, "Create or update a business object."
    )
    upsert_business_objects = upsert_many_field(
        BusinessObject, BusinessObjectInput, "Create or update business objects."
    )
