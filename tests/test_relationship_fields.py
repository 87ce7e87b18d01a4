"""Relationship fields are declared once, in the model (``RELATIONSHIP_FIELDS``): the
entity types' fields, connections and edge types, and the compiler's edge table, are
generated from those declarations."""

from __future__ import annotations

from typing import Any

from strawberry.types.base import StrawberryList, StrawberryOptional

from orggraph.graph.model import PROCESS_STEPS_LIMIT, RELATIONSHIP_FIELDS, RELATIONSHIPS
from orggraph.graph.model import RelationshipKind as K
from orggraph.schema.entities import EDGES
from orggraph.schema.types import NODE_TYPES, RELATIONSHIP


def _fields(cls: Any) -> dict[str, Any]:
    return {field.python_name: field for field in cls.__strawberry_definition__.fields}


def _arguments(field: Any) -> set[str]:
    return {argument.python_name for argument in field.arguments}


def test_every_declared_field_sits_on_an_end_of_its_relationship_under_a_unique_name() -> None:
    for label, declared in RELATIONSHIP_FIELDS.items():
        for field in declared:
            spec = RELATIONSHIPS[field.kind]
            assert (spec.source if field.outgoing else spec.target) == label, field
        assert len({field.name for field in declared}) == len(declared), label


def test_each_declaration_becomes_a_field_of_its_type_with_its_connection_when_to_many() -> None:
    for label, declared in RELATIONSHIP_FIELDS.items():
        fields = _fields(NODE_TYPES[label])
        for field in declared:
            generated = fields[field.name]
            assert generated.metadata[RELATIONSHIP] is field
            assert generated.description == field.description
            if field.many:
                assert isinstance(generated.type, StrawberryList)
                paging = {"first"} if field.paged else set()
                assert _arguments(generated) == paging | {"where", "sort"}
                connection = _arguments(fields[f"{field.name}_connection"])
                assert connection == {"first", "after", "where", "sort"}
            else:
                assert isinstance(generated.type, StrawberryOptional)
                assert _arguments(generated) == set()
                assert f"{field.name}_connection" not in fields


def test_to_one_and_node_lists_are_typed_as_the_label_at_the_other_end() -> None:
    fields = _fields(NODE_TYPES["Touchpoint"])
    assert fields["previous"].type.of_type is NODE_TYPES["Touchpoint"]
    assert fields["channel"].type.of_type is NODE_TYPES["Channel"]
    assert _fields(NODE_TYPES["Team"])["children"].type.of_type is NODE_TYPES["Team"]
    assert _fields(NODE_TYPES["KPI"])["measurements"].type.of_type is NODE_TYPES["Measurement"]


def test_an_edge_field_lists_its_edge_type_the_far_node_then_the_properties_it_shows() -> None:
    members = _fields(NODE_TYPES["Team"])["members"].type.of_type
    assert members.__strawberry_definition__.name == "TeamMember"
    assert list(_fields(members)) == ["person", "role"]
    assert _fields(members)["person"].type is NODE_TYPES["Person"]
    owned = _fields(NODE_TYPES["Team"])["owned_steps"].type.of_type
    assert owned.__strawberry_definition__.name == "StepOwnership"
    assert list(_fields(owned)) == ["step", "valid_from", "valid_to"]
    # Two relationships (CONCERNS, RELATED_TO) share one edge type.
    concerns = _fields(NODE_TYPES["Touchpoint"])["concerns"].type.of_type
    assert _fields(NODE_TYPES["BusinessObject"])["related"].type.of_type is concerns


def test_the_compiler_reads_each_edge_type_s_node_field_and_relationship_properties() -> None:
    assert EDGES == {
        "TeamMember": ("person", {"role": "role"}),
        "TeamMembership": ("team", {"role": "role"}),
        "StepOwnership": ("step", {"validFrom": "from", "validTo": "to"}),
        "StepOwner": ("team", {"validFrom": "from", "validTo": "to"}),
        "ProcessStep": ("step", {"order": "order"}),
        "ConcernedObject": ("object", {"qualifier": "qualifier"}),
    }


def test_process_steps_are_read_up_to_their_fixed_limit_without_a_first_argument() -> None:
    (steps,) = [f for f in RELATIONSHIP_FIELDS["Process"] if f.kind is K.PROCESS_HAS_STEP]
    assert steps.limit == PROCESS_STEPS_LIMIT and not steps.paged
    assert "first" not in _arguments(_fields(NODE_TYPES["Process"])["steps"])
