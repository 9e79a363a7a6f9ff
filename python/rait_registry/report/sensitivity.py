"""The report's "Beyond the paper" section: the sensitivity analyses, their readings and tables.

Each analysis shows its one-line ``reading`` for a clinician (when results.json has one) and its
``interpretation``; the time-varying Cox models (the lagged primary models and the unlagged
sensitivity row) and the non-inferiority results (the HR and the PFS difference, each verdict
from `rait_registry.analysis.wording.VERDICTS`) are laid out as tables, rendered to HTML and
written as ``tables/paper_<id>.csv`` from the same cells (`TableLayout`). Captions and footnotes
follow the wording rules of `rait_registry.analysis.wording`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..analysis import wording
from ..analysis.formatting import format_p
from ..analysis.skips import is_skipped
from .figures import finite_or_none
from .html import DASH, Cell, Row, TableLayout, render_skipped, render_table

__all__ = [
    "SENSITIVITY_SECTIONS",
    "non_inferiority_pfs_table",
    "non_inferiority_table",
    "render_sensitivity_analyses",
    "time_varying_table",
]

SENSITIVITY_SECTIONS: tuple[tuple[str, str], ...] = (
    ("landmark", "Landmark analysis (immortal time)"),
    ("time_varying_cox", "m-RAIT as a time-varying covariate (immortal time)"),
    ("non_inferiority", "Non-inferiority of o-RAIT: what the intervals allow"),
    ("sensitivity", "Sensitivity of the matched result"),
    ("dose_response", "Cumulative activity and progression"),
)


def _num(x: Any, digits: int = 2) -> str:
    v = finite_or_none(x)
    return "n/a" if v is None else f"{v:.{digits}f}"


def _ci(low: Any, high: Any, digits: int = 2, scale: float = 1.0) -> str:
    lo, hi = finite_or_none(low), finite_or_none(high)
    if lo is None or hi is None:
        return "CI undefined"
    return f"{scale * lo:.{digits}f} to {scale * hi:.{digits}f}"


def _biases(keys: Sequence[str] | None) -> str:
    return "; ".join(wording.BIAS_LABELS[k] for k in keys or ()) or "none flagged"


def _p(x: Any) -> str:
    return format_p(finite_or_none(x))


def _verdict_row(entry: Mapping[str, Any], cells: list[Cell]) -> Row:
    """A non-inferiority row: its cells, then the one-sided p and the verdict."""
    cells = [
        *cells,
        Cell(_p(entry.get("p_one_sided")), "p_one_sided", "num"),
        Cell(str(entry.get("verdict")), "verdict"),
    ]
    return Row(cells, {"analysis": str(entry.get("analysis"))}, kind="single")


def non_inferiority_table(section: Mapping[str, Any], caption: str) -> TableLayout:
    """HR of o-RAIT vs m-RAIT per analysis: its CI, one-sided p, margin, biases and verdict."""
    status = section.get("margin_status") or wording.margin_status(False)
    rows = []
    for entry in section.get("hr") or []:
        hr = finite_or_none(entry.get("hr_o_vs_m"))
        rows.append(
            _verdict_row(
                entry,
                [
                    Cell(str(entry.get("description") or entry.get("analysis")), "analysis"),
                    Cell(_biases(entry.get("biases")), "biases"),
                    Cell("n/a" if hr is None else f"{hr:.2f}", "hr_o_vs_m", "num"),
                    Cell(_ci(entry.get("ci_low"), entry.get("ci_high")), "ci", "num"),
                    Cell(f"{entry.get('margin', section.get('hr_margin')):g} ({status})", "margin", "num"),
                ],
            )
        )
    level = section.get("ci_level", 0.95)
    return TableLayout(
        "non_inferiority",
        caption,
        ["Analysis", "Known biases", "HR (o vs m)", f"{level:.0%} CI", "HR margin", "One-sided p", "Verdict"],
        rows,
        [
            f"Verdict: {section.get('verdict_rule', '')}",
            f"The margins are {status}"
            + (
                "."
                if section.get("margins_prespecified")
                else " (chosen without a protocol; declare them with --ni-margins-prespecified only when they were "
                "fixed before the data were seen)."
            ),
            f"One-sided alpha {section.get('alpha_one_sided')}; an analysis with a known bias names it in every "
            "sentence about it.",
        ],
    )


def non_inferiority_pfs_table(section: Mapping[str, Any], caption: str) -> TableLayout:
    """PFS difference (o-RAIT minus m-RAIT) per analysis against the margin derived from the HR margin."""
    status = section.get("margin_status") or wording.margin_status(False)
    M = section.get("hr_margin")
    rows = []
    for entry in section.get("pfs_difference") or []:
        s_m = finite_or_none(entry.get("pfs_m_rait"))
        margin = finite_or_none(entry.get("margin"))
        derived = finite_or_none(entry.get("margin_derived"))
        if entry.get("margin_source") == "given":
            origin = "given" + ("" if derived is None else f"; HR margin implies {100 * derived:+.1f}")
        else:
            origin = f"{s_m:.3f}^{M:g} {DASH} {s_m:.3f}" if s_m is not None else "not derivable"
        rows.append(
            _verdict_row(
                entry,
                [
                    Cell(str(entry.get("analysis")), "analysis"),
                    Cell(_biases(entry.get("biases")), "biases"),
                    Cell(f"{entry.get('horizon_months'):g} ({entry.get('time_origin')})", "horizon_months", "num"),
                    Cell(_num(entry.get("pfs_o_rait"), 3), "pfs_o_rait", "num"),
                    Cell(_num(entry.get("pfs_m_rait"), 3), "pfs_m_rait", "num"),
                    Cell(
                        "n/a" if entry.get("difference") is None else f"{100 * entry['difference']:+.1f}",
                        "difference",
                        "num",
                    ),
                    Cell(_ci(entry.get("ci_low"), entry.get("ci_high"), 1, 100.0), "ci", "num"),
                    Cell("n/a" if margin is None else f"{100 * margin:+.1f} ({origin})", "margin", "num"),
                ],
            )
        )
    level = section.get("ci_level", 0.95)
    return TableLayout(
        "non_inferiority_pfs",
        caption,
        [
            "Analysis",
            "Known biases",
            "Horizon, months (from)",
            "PFS o-RAIT",
            "PFS m-RAIT",
            "Difference, points",
            f"{level:.0%} CI, points",
            "Margin, points",
            "One-sided p",
            "Verdict",
        ],
        rows,
        [
            f"Margin: {section.get('pfs_margin_rule', '')} ({status}). Under proportional hazards an HR of "
            f"{M:g} turns the m-RAIT PFS S_m into S_m^{M:g} for o-RAIT, so the two margins state one hypothesis.",
            f"{section.get('pfs_se_method', '')}",
        ],
    )


def time_varying_table(section: Mapping[str, Any], caption: str) -> TableLayout:
    """The time-varying Cox models with the exposure lag, then the unlagged sensitivity row."""
    entries = [(m, "primary") for m in section.get("models") or []]
    unl = section.get("unlagged_sensitivity") or {}
    if unl and not unl.get("skipped"):
        entries.append((unl, "sensitivity (unlagged)"))
    rows = []
    for m, role in entries:
        hr = finite_or_none(m.get("hr"))
        rows.append(
            Row(
                [
                    Cell(str(m.get("description") or m.get("name")), "model"),
                    Cell(role, "role"),
                    Cell(str(m.get("exposure_lag_days")), "exposure_lag_days", "num"),
                    Cell(_biases(m.get("biases")), "biases"),
                    Cell(str(m.get("events") if m.get("events") is not None else DASH), "events", "num"),
                    Cell("n/a" if hr is None else f"{hr:.2f}", "hr", "num"),
                    Cell(_ci(m.get("ci_low"), m.get("ci_high")), "ci", "num"),
                    Cell(_p(m.get("p")), "p", "num"),
                ],
                {"model": str(m.get("name"))},
                kind="single",
            )
        )
    lag = section.get("exposure_lag_days")
    notes = [
        f"Exposure change {lag} days after each administration after the first "
        f"({section.get('exposure_lag_source', '')}): the second cycle's post-therapy scan evaluates the first "
        "cycle, so what it finds stays with o-RAIT; a progression on exactly that day stays with o-RAIT. "
        "HR m-RAIT vs o-RAIT (reference o-RAIT); Cox model, Efron ties."
    ]
    if unl.get("skipped"):
        notes.append(f"Unlagged sensitivity model not fitted: {unl.get('reason')}.")
    else:
        notes.append(
            f"The unlagged model credits {unl.get('n_events_credited_to_m_rait')} more progression(s) to m-RAIT; "
            "it is a sensitivity analysis only."
        )
    return TableLayout(
        "time_varying_cox",
        caption,
        ["Model", "Role", "Lag (days)", "Known biases", "Events", "HR (m vs o)", "95% CI", "P"],
        rows,
        notes,
    )


def render_sensitivity_analyses(results: Mapping[str, Any]) -> tuple[str, list[TableLayout]]:
    """The 'Beyond the paper' section: each analysis' reading and interpretation, and its tables.

    Returns
    -------
    html : str
    tables : list of TableLayout
        The tables shown (``time_varying_cox``, ``non_inferiority``, ``non_inferiority_pfs``), for
        ``tables/paper_<id>.csv``.
    """
    parts = [
        '<p class="lead">The study compares groups defined by the number of cycles received during '
        "follow-up, which creates immortal time, and reads a non-significant log-rank test as "
        "non-inferiority. These analyses answer those weaknesses; each sentence is generated from the "
        "numbers in results.json, and each reading is a line a clinician may quote with its caveats.</p>"
    ]
    tables: list[TableLayout] = []
    for key, title in SENSITIVITY_SECTIONS:
        section = results.get(key)
        if not section:
            continue
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if is_skipped(section):
            parts.append(render_skipped(section["reason"]))
            continue
        if section.get("reading"):
            parts.append(
                f'<p class="reading" data-section="{key}"><b>Reading:</b> {html.escape(str(section["reading"]))}</p>'
            )
        parts.append(f'<p class="interpretation">{html.escape(str(section.get("interpretation") or ""))}</p>')
        shown: list[TableLayout] = []
        if key == "time_varying_cox" and section.get("models"):
            shown.append(time_varying_table(section, "Time-varying Cox models: m-RAIT status from the exposure lag"))
        if key == "non_inferiority":
            shown.append(
                non_inferiority_table(section, "Non-inferiority of o-RAIT vs m-RAIT by analysis: hazard ratio")
            )
            if section.get("pfs_difference"):
                shown.append(
                    non_inferiority_pfs_table(
                        section, "Non-inferiority of o-RAIT vs m-RAIT by analysis: PFS difference at the horizon"
                    )
                )
        for layout in shown:
            parts.append(render_table(layout))
        tables += shown
    return "".join(parts), tables
