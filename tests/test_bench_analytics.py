"""The analytics bench's report: every scan reference resolves to a query, and two sizes
merge into one report with the ratio of their p50s (no database needed)."""

from __future__ import annotations

import json

from bench import analytics


def _section(touchpoints: int, served: float, scan: float) -> str:
    data = {"touchpoints": touchpoints, "rows": {"funnel, all time": [served, scan]}}
    return f"## {touchpoints:,} touchpoints\n\n{analytics.DATA_MARKER}{json.dumps(data)} -->\n"


def test_every_scan_reference_names_a_cypher_query() -> None:
    for family in analytics.SCANS:
        assert "MATCH" in analytics.scan_query(family)


def test_one_size_gives_no_ratio_table() -> None:
    report = analytics.combined(None, _section(1_000_000, 100.0, 400.0))
    assert report.startswith("# Analytics at scale")
    assert analytics.RATIO_MARKER not in report


def test_a_second_size_is_appended_with_the_ratio_of_the_p50s() -> None:
    first = analytics.combined(None, _section(1_000_000, 100.0, 400.0))
    report = analytics.combined(first, _section(5_000_000, 180.0, 2_000.0))
    assert report.count("## 1,000,000 touchpoints") == 1
    assert report.count("## 5,000,000 touchpoints") == 1
    assert "| funnel, all time | 100 | 180 | 1.8x | **no** | 400 | 2,000 | 5.0x |" in report


def test_appending_again_keeps_one_ratio_table() -> None:
    report = analytics.combined(None, _section(1_000_000, 100.0, 400.0))
    report = analytics.combined(report, _section(5_000_000, 140.0, 2_000.0))
    report = analytics.combined(report, _section(5_000_000, 150.0, 2_000.0))
    assert report.count(analytics.RATIO_MARKER) == 1
    assert "| funnel, all time | 100 | 150 | 1.5x | yes |" in report
