"""What the property-based tests of the journeys' derived facts (tests/test_derived.py,
tests/test_journey_maps.py) draw their random writes from: the touchpoint ids, deletes
of some of them, and the operation each example applies in order."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

TOUCHPOINT_IDS = [f"p{i}" for i in range(6)]

delete = st.tuples(
    st.just("delete"),
    st.lists(st.sampled_from(TOUCHPOINT_IDS), min_size=1, max_size=2, unique=True),
    st.just(False),
)
"""A delete of one or two of the touchpoints (flag unused)."""

Operation = tuple[str, Any, bool]
"""(kind, payload, flag): a batch of writes, a delete, ... as each test applies them."""
