"""Customers, their deals, and the business objects their events concern."""

from __future__ import annotations

import strawberry
from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import (
    BusinessObjectFilter,
    BusinessObjectInput,
    CustomerFilter,
    CustomerInput,
    DealFilter,
    DealInput,
)
from orggraph.schema.types import BusinessObject, Customer, Deal


@strawberry.type
class CustomersQuery:
    customer = get_field(Customer, "A customer by id.")
    customers = list_field(Customer, CustomerFilter, "Customers, by id, filtered.")
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
