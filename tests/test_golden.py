"""The dbt marts against the hand-worked golden marts and the independent pandas oracle.

Every cell of the five marts of docs/specification.md section 3 is compared (floats to 1e-9 relative):
- the golden edge-case extract (tests/data/edge_extract, 93 patients each deciding one rule)
  against its expected marts worked out by hand (tests/data/edge_expected);
- the demo registry against the oracle (tests/oracle), an independent reading of docs/specification.md section 2 in pandas, so the rules are checked on a realistic extract too.
"""

from __future__ import annotations

from .conftest import DATA, read_published_marts
from .oracle import compare_marts, derive_marts, load_extract, read_marts


def test_edge_extract_marts_equal_the_hand_worked_marts(edge_warehouse):
    actual = read_published_marts(edge_warehouse)
    expected = read_marts(DATA / "edge_expected")
    differences = compare_marts(actual, expected)
    assert not differences, "\n".join(differences[:50])


def test_demo_marts_equal_the_oracle(demo_warehouse, demo_extract):
    actual = read_published_marts(demo_warehouse)
    expected = derive_marts(load_extract(demo_extract))
    differences = compare_marts(actual, expected)
    assert not differences, "\n".join(differences[:50])


def test_edge_extract_person_months_equal_the_oracle(edge_warehouse):
    """The golden extract's edge cases (evidence dated on a month boundary, deaths, quarantined
    rows) through the person-month mart of the target-trial emulation, against the oracle."""
    actual = read_published_marts(edge_warehouse)
    expected = derive_marts(load_extract(DATA / "edge_extract"))
    assert len(expected["strategy_evidence_monthly"]) > 100
    differences = compare_marts(actual, expected, marts=["strategy_evidence_monthly"])
    assert not differences, "\n".join(differences[:50])


def test_demo_cohort_matches_the_study_size(demo_warehouse):
    attrition = read_published_marts(demo_warehouse)["cohort_attrition"].sort_values("step")
    # the default registry reaches about 117 eligible patients with every exclusion step non-empty
    assert 105 <= attrition["n_remaining"].iloc[-1] <= 130
    assert (attrition.loc[attrition["step"] >= 1, "n_excluded"] > 0).all()
