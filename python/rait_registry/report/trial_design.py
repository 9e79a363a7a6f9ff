"""The report's trial-design section: the table of events and patients over margins and powers, and its reading.

Laid out from results.json ``trial_design`` (`rait_registry.analysis.trial_design`) like every
other table (`rait_registry.report.html.TableLayout`: one layout, rendered as HTML and as
``tables/paper_trial_design.csv``); rows carry ``data-margin`` and ``data-power``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .html import Cell, Row, TableLayout, paragraphs, render_skipped, render_table

__all__ = ["trial_design_html", "trial_design_table"]

COLUMNS = ["HR margin", "Power", "Events", "P(event)", "Accrual (years)", "Trial (years)", "Patients"]


def trial_design_table(section: Mapping[str, Any], caption: str) -> TableLayout:
    """One row per margin and power of ``trial_design.table``."""
    rows = []
    for r in section.get("table") or []:
        rows.append(
            Row(
                [
                    Cell(f"{r['margin']:g}", "margin", "num"),
                    Cell(f"{100 * r['power']:g}%", "power", "num"),
                    Cell(str(r["events"]), "events", "num"),
                    Cell(f"{r['event_probability']:.2f}", "event_probability", "num"),
                    Cell(f"{r['accrual_years']:.1f}", "accrual_years", "num"),
                    Cell(f"{r['trial_years']:.1f}", "trial_years", "num"),
                    Cell(str(r["patients"]), "patients", "num"),
                ],
                {"margin": f"{r['margin']:g}", "power": f"{r['power']:g}"},
                "single",
            )
        )
    design, hazard, accrual = section.get("design") or {}, section.get("hazard") or {}, section.get("accrual") or {}
    source = (
        "progression events per person-year of the analysed cohort"
        if hazard.get("source") == "person_time"
        else f"-log of the Kaplan-Meier PFS at {hazard.get('horizon_months', 0):g} months over that horizon"
    )
    notes = [
        f"Non-inferiority of surveillance versus repeated RAIT, 1:1, true hazard ratio {design.get('true_hr', 1):.2f}, "
        f"one-sided alpha {design.get('alpha_one_sided', 0):g}; events by Schoenfeld's formula, rounded up.",
        f"Patients: exponential PFS with the registry's hazard {hazard.get('per_year', 0):.3f} per year ({source}), "
        f"uniform accrual at {accrual.get('patients_per_year', 0):.1f} eligible patients per year (first RAITs "
        f"{accrual.get('first_date')} to {accrual.get('last_date')}), {design.get('follow_up_years', 0):g} years of "
        "follow-up after the last patient; no loss to follow-up, no interim analysis. P(event): probability that a "
        "patient progresses during the trial.",
    ]
    return TableLayout("trial_design", caption, list(COLUMNS), rows, notes)


def trial_design_html(section: Mapping[str, Any] | None, skipped_reason: str | None) -> tuple[str, TableLayout | None]:
    """The section's HTML (reading, then table) and its layout (None when skipped or absent)."""
    if skipped_reason is not None:
        return render_skipped(skipped_reason), None
    if not section:
        return "", None
    layout = trial_design_table(
        section, "Prospective non-inferiority trial: events and patients needed by hazard-ratio margin and power"
    )
    return paragraphs([section.get("interpretation") or ""]) + render_table(layout), layout
