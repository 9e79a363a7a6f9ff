"""The prospective trial's design (rait_registry.analysis.trial_design): events, accrual, patients, report.

Event counts are checked against a published worked example; the accrual solution against an
independent numerical integration and its defining equation; the registry's hazard and accrual
rate against hand counts on the frozen demo cohort.
"""

from __future__ import annotations

import math
import re
import warnings

import pandas as pd
import pytest
from scipy.integrate import quad

from rait_registry.analysis import AnalysisConfig, analyze
from rait_registry.analysis.trial_design import (
    NonInferiorityTrialDesign,
    accrual_years_for_events,
    event_probability,
    expected_events,
    schoenfeld_events,
    with_first_rait_date,
)
from rait_registry.analysis.wording import forbidden_words
from rait_registry.exceptions import AnalysisError, InsufficientDataError
from rait_registry.report.trial_design import trial_design_html, trial_design_table

from .frozen_data import read_frozen_csv


@pytest.fixture(scope="module")
def demo():
    cohort = read_frozen_csv("frozen_demo", "analysis_cohort")
    cycles = read_frozen_csv("frozen_demo", "rait_cycles")
    return with_first_rait_date(cohort, cycles), cycles


# --------------------------------------------------------------------------- events (Schoenfeld)


def test_events_match_the_published_gsdesign_example():
    """gsDesign's vignette "Survival Overview" (K. Anderson, CRAN package gsDesign, section on nEvents,
    Schoenfeld's approximation): hazard ratio 0.7, one-sided alpha 0.025, power 90%, 1:1 needs
    (1 + r)^2 / r / log(hr)^2 * (qnorm(1 - alpha) + qnorm(1 - beta))^2 = 330.4 events, reported as 331
    (``nEvents(hr = .7, alpha = .025, beta = .1, tbl = TRUE)``; the vignette's standard error
    ``(1 + r) / sqrt(331 * r)``). Superiority at 0.7 against 1 is the non-inferiority test of HR 1.0
    against the margin 1/0.7: the same log distance, the same events."""
    superiority = schoenfeld_events(1.0, 0.025, 0.9, true_hr=0.7)
    assert superiority == pytest.approx(330.378, abs=1e-3)
    assert math.ceil(superiority) == 331
    assert schoenfeld_events(1 / 0.7, 0.025, 0.9) == pytest.approx(superiority, rel=1e-12)


def test_events_of_the_default_design_by_hand():
    # z_0.975 = 1.959964, z_0.8 = 0.841621, z_0.9 = 1.281552; 1:1 so p(1 - p) = 1/4
    for power, z_power, expected in ((0.8, 0.8416212, 191), (0.9, 1.2815516, 256)):
        exact = (1.9599640 + z_power) ** 2 / (0.25 * math.log(1.5) ** 2)
        assert schoenfeld_events(1.5, 0.025, power) == pytest.approx(exact, rel=1e-6)
        assert math.ceil(exact) == expected


def test_events_fall_with_a_wider_margin_and_rise_with_power_and_a_smaller_alpha():
    margins = [1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0]
    d80 = [schoenfeld_events(m, 0.025, 0.8) for m in margins]
    d90 = [schoenfeld_events(m, 0.025, 0.9) for m in margins]
    assert d80 == sorted(d80, reverse=True) and len(set(d80)) == len(d80)
    assert all(a > b for a, b in zip(d90, d80, strict=True))
    assert schoenfeld_events(1.5, 0.01, 0.8) > schoenfeld_events(1.5, 0.025, 0.8)
    # unequal allocation needs more events: 1 / (p (1 - p)) is smallest at 1/2
    assert schoenfeld_events(1.5, 0.025, 0.8, allocation=2 / 3) == pytest.approx(d80[2] * 0.25 / (2 / 9))


def test_a_margin_equal_to_the_true_ratio_is_refused():
    with pytest.raises(AnalysisError, match="margin equals the true hazard ratio"):
        schoenfeld_events(1.0, 0.025, 0.8)


# --------------------------------------------------------------------------- accrual


@pytest.mark.parametrize(("hazard", "accrual", "follow_up"), [(0.04, 10.0, 3.0), (0.5, 2.0, 0.0), (1e-4, 5.0, 1.0)])
def test_event_probability_equals_the_integral_over_uniform_entry(hazard, accrual, follow_up):
    """At a fixed accrual A the closed form equals (1/A) * integral over entry u in [0, A] of the
    probability of an event within the patient's follow-up A + F - u (computed by quadrature)."""
    integral, _ = quad(lambda u: -math.expm1(-hazard * (accrual + follow_up - u)), 0.0, accrual)
    assert event_probability(hazard, accrual, follow_up) == pytest.approx(integral / accrual, rel=1e-9)


def test_event_probability_without_accrual_time_is_the_follow_up_probability():
    assert event_probability(0.1, 0.0, 3.0) == pytest.approx(1 - math.exp(-0.3))
    assert event_probability(0.1, 1e-9, 3.0) == pytest.approx(1 - math.exp(-0.3), rel=1e-6)


def test_the_accrual_duration_solves_rate_times_accrual_times_probability():
    d, rate, hazard, follow_up = 191, 20.0, 0.04, 3.0
    a = accrual_years_for_events(d, rate, hazard, follow_up)
    assert expected_events(rate, hazard, a, follow_up) == pytest.approx(d, rel=1e-10)
    assert rate * a * event_probability(hazard, a, follow_up) == pytest.approx(d, rel=1e-10)
    # one year less of accrual gives fewer than d events, one more gives more
    assert expected_events(rate, hazard, a - 1, follow_up) < d < expected_events(rate, hazard, a + 1, follow_up)


def test_a_long_accrual_whose_root_sits_at_the_linear_bound_is_solved():
    """A slow registry (0.94 patients a year, 3 patients): the root lies within rounding of
    events / rate + exp(-lambda F) / lambda, the bound where the expected events are linear in A."""
    a = accrual_years_for_events(191, 0.9357, 0.0784, 3.0)
    assert expected_events(0.9357, 0.0784, a, 3.0) == pytest.approx(191, rel=1e-10)
    assert a == pytest.approx(191 / 0.9357 + math.exp(-0.0784 * 3) / 0.0784, rel=1e-6)


def test_accrual_is_monotone_in_events_rate_hazard_and_follow_up():
    base = accrual_years_for_events(191, 20.0, 0.04, 3.0)
    assert accrual_years_for_events(256, 20.0, 0.04, 3.0) > base  # more events
    assert accrual_years_for_events(191, 40.0, 0.04, 3.0) < base  # faster accrual
    assert accrual_years_for_events(191, 20.0, 0.08, 3.0) < base  # more progression
    assert accrual_years_for_events(191, 20.0, 0.04, 6.0) < base  # longer follow-up
    # faster accrual shortens the trial but enrols more patients (each is followed for less time)
    n_slow = 20.0 * base
    n_fast = 40.0 * accrual_years_for_events(191, 40.0, 0.04, 3.0)
    assert n_fast > n_slow


# --------------------------------------------------------------------------- on the registry


def test_the_registry_hazard_and_accrual_rate_by_hand(demo):
    cohort, _ = demo
    design = NonInferiorityTrialDesign().fit(cohort)
    events, person_years = int(cohort["pfs_event"].sum()), cohort["pfs_months"].sum() / 12
    assert design.hazard_["events"] == events == 24
    assert design.hazard_per_year_ == pytest.approx(events / person_years)
    starts = pd.to_datetime(cohort["pfs_start_date"])
    span = (starts.max() - starts.min()).days / 365.25
    assert design.accrual_["patients_per_year"] == pytest.approx(len(cohort) / span)
    assert design.accrual_["first_date"] == starts.min().date().isoformat()


def test_the_first_rait_date_comes_from_the_first_cycle(demo):
    cohort, cycles = demo
    first = cycles[cycles["cycle_number"] == 1].set_index("patient_id")["admin_date"]
    got = cohort.set_index("patient_id")["pfs_start_date"]
    assert (pd.to_datetime(first.loc[got.index]) == got).all()
    # a cohort that carries the date keeps it
    assert with_first_rait_date(cohort, cycles) is cohort


def test_the_table_covers_every_margin_and_power_and_each_row_is_consistent(demo):
    cohort, _ = demo
    design = NonInferiorityTrialDesign().fit(cohort)
    table = design.summary
    assert list(zip(table["margin"], table["power"])) == [
        (m, p) for m in (1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0) for p in (0.8, 0.9)
    ]
    rate = design.accrual_["patients_per_year"]
    for row in table.to_dict("records"):
        assert row["events"] == math.ceil(row["events_exact"])
        assert rate * row["accrual_years"] * row["event_probability"] == pytest.approx(row["events"], rel=1e-9)
        assert row["patients"] % 2 == 0 and row["patients"] >= rate * row["accrual_years"]
        assert row["trial_years"] == pytest.approx(row["accrual_years"] + 3.0)
    for power in (0.8, 0.9):
        sub = table[table["power"] == power]
        assert sub["events"].is_monotonic_decreasing and sub["patients"].is_monotonic_decreasing
    assert design.primary_.equals(table[table["margin"] == 1.5].reset_index(drop=True))


def test_the_hazard_from_the_horizon_pfs(demo):
    cohort, _ = demo
    from lifelines import KaplanMeierFitter

    design = NonInferiorityTrialDesign(hazard_source="pfs_horizon", horizon_months=60).fit(cohort)
    km = KaplanMeierFitter().fit(cohort["pfs_months"], cohort["pfs_event"])
    s5 = float(km.survival_function_at_times(60).iloc[0])
    assert design.hazard_["pfs_at_horizon"] == pytest.approx(s5)
    assert design.hazard_per_year_ == pytest.approx(-math.log(s5) / 5)
    with pytest.raises(InsufficientDataError, match="no patient is followed to"):
        NonInferiorityTrialDesign(hazard_source="pfs_horizon", horizon_months=10_000).fit(cohort)


def test_no_event_or_a_single_accrual_day_is_a_reason_not_a_crash(demo):
    cohort, _ = demo
    with pytest.raises(InsufficientDataError, match="no progression event among the 93 patients"):
        NonInferiorityTrialDesign().fit(cohort[cohort["pfs_event"] == 0])
    same_day = cohort.assign(pfs_start_date=pd.Timestamp("2015-01-01"))
    with pytest.raises(InsufficientDataError, match="all on one day"):
        NonInferiorityTrialDesign().fit(same_day)
    with pytest.raises(AnalysisError, match="pfs_start_date"):
        NonInferiorityTrialDesign().fit(cohort.drop(columns="pfs_start_date"))


# --------------------------------------------------------------------------- results.json, report, wording


@pytest.fixture(scope="module")
def analysed(demo):
    cohort, cycles = demo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(cohort.drop(columns="pfs_start_date"), cycles, AnalysisConfig(sensitivity_analyses=False))


def test_analyze_writes_the_section_and_the_csv(analysed):
    section = analysed.results["trial_design"]  # analyze validated it against the schema
    assert section["design"]["margin"] == 1.5 and section["design"]["powers"] == [0.8, 0.9]
    assert [r["events"] for r in section["primary"]] == [191, 256]
    assert len(section["table"]) == 16
    assert analysed.tables["trial_design"].to_dict("records") == section["table"]
    assert analysed.trial_design is not None


def test_the_options_reach_the_design(demo):
    cohort, cycles = demo
    config = AnalysisConfig(
        sensitivity_analyses=False, trial_hr_margin=2.0, trial_margins=(1.25, 2.0), trial_powers=(0.85,)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        section = analyze(cohort, cycles, config).results["trial_design"]
    assert [(r["margin"], r["power"]) for r in section["table"]] == [(1.25, 0.85), (2.0, 0.85)]
    assert section["primary"][0]["events"] == math.ceil(schoenfeld_events(2.0, 0.025, 0.85))


def test_the_reading_is_a_design_not_a_finding(analysed):
    text = analysed.results["trial_design"]["interpretation"]
    assert text.startswith("Design calculation, not a finding")
    assert forbidden_words(text) == []
    for row in analysed.results["trial_design"]["primary"]:
        assert f"{row['events']} progression events" in text and f"about {row['patients']} patients" in text


def test_the_report_table_shows_the_results(analysed):
    section = analysed.results["trial_design"]
    html_text, layout = trial_design_html(section, None)
    assert layout is not None and len(layout.rows) == len(section["table"])
    for row, r in zip(layout.rows, section["table"]):
        cells = {c.col: c.text for c in row.cells}
        assert int(cells["events"]) == r["events"] and int(cells["patients"]) == r["patients"]
        assert float(cells["accrual_years"]) == pytest.approx(r["accrual_years"], abs=0.05)
    assert forbidden_words(html_text) == []
    assert re.search(r'data-table="trial_design"', html_text)
    frame = trial_design_table(section, "caption").to_frame()
    assert frame.shape == (16, 7) and frame["Events"].astype(int).tolist() == [r["events"] for r in section["table"]]
    skipped_html, none = trial_design_html(None, "no progression event among the 93 eligible patients")
    assert none is None and "Not estimated: no progression event" in skipped_html


def test_the_skipped_shape_without_events(demo):
    cohort, cycles = demo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze(cohort[cohort["pfs_event"] == 0], cycles, AnalysisConfig(sensitivity_analyses=False))
    assert result.results["trial_design"] == {"skipped": True, "reason": result.skipped["trial_design"]}
    assert "no progression event" in result.skipped["trial_design"]
    assert "trial_design" not in result.tables
