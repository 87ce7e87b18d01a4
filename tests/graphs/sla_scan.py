"""The SLA queries as they were before they read REACHED: the cases and deliveries found
by scanning the source (or governed) steps' AT_STEP touchpoints in the window, then
checking per customer that no earlier touchpoint at those steps exists.

Kept as the reference the REACHED queries (graph/slas.py) must equal on any graph the
write path produces (tests/test_slas.py); the rest of each query, from the SLA's
terms to the statuses, periods and paging, is the production text itself.
"""

from __future__ import annotations

from typing import LiteralString

from orggraph.graph.slas import breaches, compliance_periods

SCAN_RESPONSE_CASES: LiteralString = """
  UNWIND sources AS source
  MATCH (source)<-[:AT_STEP]-(t:Touchpoint)<-[:HAD]-(c:Customer)
  WHERE t.at >= lo AND t.at < hi AND t.at <= $asOf
  WITH c, min(t.at) AS reachedAt, sources, consumer, limitSeconds
  WHERE none(e IN COLLECT { MATCH (c)-[:HAD]->(e:Touchpoint) WHERE e.at < reachedAt RETURN e }
             WHERE EXISTS { MATCH (e)-[:AT_STEP]->(s:Step) WHERE s IN sources })
"""
"""RESPONSE_TIME cases by scanning the source steps' touchpoints in the window."""

SCAN_DELIVERIES: LiteralString = """
  MATCH (governed)<-[:AT_STEP]-(t:Touchpoint)<-[:HAD]-(c:Customer)
  WHERE t.at >= lo AND t.at < hi AND t.at <= $asOf
  WITH c, min(t.at) AS reachedAt, governed
  WHERE none(e IN COLLECT { MATCH (c)-[:HAD]->(e:Touchpoint) WHERE e.at < reachedAt RETURN e }
             WHERE EXISTS { (e)-[:AT_STEP]->(governed) })
"""
"""VOLUME deliveries by scanning the governed step's touchpoints in the window."""

SCAN_SLA_COMPLIANCE: LiteralString = (
    compliance_periods(SCAN_RESPONSE_CASES, SCAN_DELIVERIES)
    + """
RETURN periodStart, periodEnd, cases, delivered, met, breached, open, inBreachNow, rate
"""
)
"""graph.slas.SLA_COMPLIANCE's parameters and answer, by the scan."""

SCAN_SLA_BREACHES: LiteralString = breaches(SCAN_RESPONSE_CASES)
"""graph.slas.SLA_BREACHES's parameters and answer, by the scan."""
