"""Table layouts (the paper's Tables 1-3 and the survival, matching and cut-point tables) and the HTML page.

Every table is first laid out as a :class:`TableLayout` -- rows of display cells built
from the numbers of ``results.json`` (never from its display strings), each cell tagged
with the results field it shows -- and then rendered twice from the same layout: as an
HTML ``<table>`` and as a CSV (:meth:`TableLayout.to_frame`). The report therefore shows
exactly what the CSVs hold, and a test can read any rendered cell back and compare it with
``results.json`` (``data-table``, ``data-variable``/``data-level``/``data-term``/
``data-analysis``/``data-group`` on rows, ``data-col`` on cells).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..analysis.formatting import format_p
from .figures import FigureFiles, finite_or_none
from .labels import level_label, test_label, variable_label

__all__ = [
    "Cell",
    "Row",
    "TableLayout",
    "balance_table",
    "baseline_balance_table",
    "categorical_agreement_reading",
    "categorical_test_note",
    "censoring_lines",
    "cohort_summary_lines",
    "cox_reading",
    "cox_table",
    "cutpoint_table",
    "logistic_table",
    "paper_table",
    "paragraphs",
    "ph_table",
    "render_page",
    "render_table",
    "survival_table",
]

DASH = "\u2013"
#: Decimals of the median (P25, P75) cells per variable (default 1, as the paper prints them).
DIGITS: dict[str, int] = {"median_activity_gbq": 2, "cumulative_gbq": 2}


@dataclass
class Cell:
    text: str
    col: str | None = None
    cls: str = ""


@dataclass
class Row:
    cells: list[Cell]
    attrs: dict[str, str] = field(default_factory=dict)
    kind: str = "level"  # "variable" (a block header), "level", "single", "reference"


@dataclass
class TableLayout:
    """A table as rows of display cells; rendered to HTML and CSV from the same cells."""

    table_id: str
    caption: str
    columns: list[str]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The table as displayed (one CSV row per displayed row, level rows indented by two spaces)."""
        records = []
        for row in self.rows:
            texts = [c.text for c in row.cells]
            if row.kind in ("level", "reference") and texts:
                texts[0] = "  " + texts[0]
            records.append(texts + [""] * (len(self.columns) - len(texts)))
        return pd.DataFrame(records, columns=self.columns)


def _int_text(value: Any) -> str:
    x = finite_or_none(value)
    return DASH if x is None else f"{int(round(x))}"


# --------------------------------------------------------------------------- Tables 1 and 2


def _cell_value(row: Mapping[str, Any], col: str, digits: int) -> str:
    statistic = row.get("statistic")
    value = finite_or_none(row.get(col))
    if value is None:
        return DASH
    if statistic == "median_iqr":
        q1, q3 = finite_or_none(row.get(f"{col}_p25")), finite_or_none(row.get(f"{col}_p75"))
        if q1 is None or q3 is None:
            return f"{value:.{digits}f}"
        return f"{value:.{digits}f} ({q1:.{digits}f}, {q3:.{digits}f})"
    if statistic == "n_pct":
        pct = finite_or_none(row.get(f"{col}_pct"))
        return f"{int(round(value))}" if pct is None else f"{int(round(value))} ({pct:.1f})"
    if statistic == "n":
        return f"{int(round(value))}"
    shown = row.get(f"{col}_display")
    return str(shown) if shown else f"{value:g}"


def paper_table(
    rows: Sequence[Mapping[str, Any]],
    cohort: Mapping[str, Any],
    table_id: str,
    caption: str,
    extra_rows: Iterable[Row] = (),
    footnotes: Sequence[str] = (),
) -> TableLayout:
    """Table 1 or 2 as the paper lays it out: characteristic | overall | o-RAIT | m-RAIT | P value | test.

    ``rows`` are ``results.json`` ``table1``/``table2`` rows ``{variable, level, statistic,
    overall, o_rait, m_rait, *_pct, *_p25, *_p75, p_value, test, label}``. A variable with one
    row and no level is one line; otherwise a header line carries the variable, P value and
    test, and one line per level follows.
    """
    columns = [
        "Characteristic",
        f"Overall (n = {cohort.get('n_eligible', '?')})",
        f"o-RAIT (n = {cohort.get('n_o_rait', '?')})",
        f"m-RAIT (n = {cohort.get('n_m_rait', '?')})",
        "P value",
        "Test",
    ]
    blocks: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        blocks.setdefault(str(row.get("variable")), []).append(row)
    out: list[Row] = []
    for variable, block in blocks.items():
        digits = DIGITS.get(variable, 1)
        first = block[0]
        label = first.get("label") or variable_label(variable)
        p_text = (
            format_p(finite_or_none(first.get("p_value"))) if finite_or_none(first.get("p_value")) is not None else ""
        )
        test_text = test_label(first.get("test"))
        if len(block) == 1 and first.get("level") is None:
            suffix = " [median (P25, P75)]" if first.get("statistic") == "median_iqr" else ""
            cells = [Cell(f"{label}{suffix}", "label")]
            cells += [Cell(_cell_value(first, col, digits), col, "num") for col in ("overall", "o_rait", "m_rait")]
            cells += [Cell(p_text, "p_value", "num"), Cell(test_text, "test", "test")]
            out.append(Row(cells, {"variable": variable}, "single"))
            continue
        unit = ", n (%)" if any(r.get("statistic") == "n_pct" for r in block) else ", n"
        out.append(
            Row(
                [
                    Cell(f"{label}{unit}", "label"),
                    Cell(""),
                    Cell(""),
                    Cell(""),
                    Cell(p_text, "p_value", "num"),
                    Cell(test_text, "test", "test"),
                ],
                {"variable": variable},
                "variable",
            )
        )
        for r in block:
            cells = [Cell(level_label(r.get("level")), "level")]
            cells += [Cell(_cell_value(r, col, digits), col, "num") for col in ("overall", "o_rait", "m_rait")]
            cells += [Cell(""), Cell("")]
            out.append(Row(cells, {"variable": variable, "level": str(r.get("level"))}, "level"))
    out.extend(extra_rows)
    return TableLayout(table_id, caption, columns, out, list(footnotes))


def categorical_test_note(rule: str | None) -> str:
    """The footnote of Tables 1-2 that names the tests, for the categorical test rule in force (``test_rule``)."""
    sparse = (
        "Fisher's exact test (revision 1's rule)"
        if rule == "pearson_fisher"
        else "the Yates-corrected \u03c7\u00b2 for a 2 \u00d7 2 table and Fisher's exact test for a larger one "
        "(the paper's rule)"
    )
    return (
        "Mann-Whitney U test; Pearson \u03c7\u00b2 without continuity correction when every expected count is "
        f"\u2265 5, otherwise {sparse}. Fisher's test is exact. Each categorical row's Pearson, Yates (2 \u00d7 2), "
        "likelihood-ratio and Fisher P values are in results.json and tables/table1.csv, tables/table2.csv."
    )


#: results.json p-value columns of the categorical tests, with their display names.
CATEGORICAL_P_COLUMNS: dict[str, str] = {
    "p_chi_square": "Pearson",
    "p_chi_square_yates": "Yates",
    "p_g_test": "likelihood ratio",
    "p_fisher_exact": "Fisher",
}


def categorical_agreement_reading(rows: Sequence[Mapping[str, Any]], alpha: float = 0.05) -> str:
    """One line for a clinician: do the categorical tests agree on which side of ``alpha`` each P value lies?"""
    split = []
    for variable in dict.fromkeys(str(r.get("variable")) for r in rows):
        first = next(r for r in rows if str(r.get("variable")) == variable)
        ps = {name: finite_or_none(first.get(col)) for col, name in CATEGORICAL_P_COLUMNS.items()}
        ps = {name: p for name, p in ps.items() if p is not None}
        if len(ps) > 1 and min(ps.values()) < alpha <= max(ps.values()):
            shown = ", ".join(f"{name} {format_p(p)}" for name, p in ps.items())
            split.append(f"{first.get('label') or variable_label(variable)} ({shown})")
    if not split:
        return (
            f"Reading: for every categorical row, the Pearson, Yates, likelihood-ratio and Fisher tests fall on the "
            f"same side of P = {alpha:g}, so the choice of test does not change a conclusion."
        )
    return (
        f"Reading: the choice of test decides which side of P = {alpha:g} these rows fall on, so treat them as "
        "borderline: " + "; ".join(split) + "."
    )


def horizon_response_reading(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One line for a clinician: Table 2's response comparisons on the full windows and at the fixed horizon.

    None when ``rows`` (results.json ``table2``) carry no ``*_at_horizon`` rows (a warehouse
    without ``rait_cycles.response_at_horizon``).
    """

    def p_of(variable: str) -> str:
        row = next((r for r in rows if str(r.get("variable")) == variable), None)
        p = None if row is None else finite_or_none(row.get("p_value"))
        return "not tested" if p is None else f"P {format_p(p, style='sentence')}"

    if not any(str(r.get("variable")).endswith("_at_horizon") for r in rows):
        return None
    parts = [
        f"{what} {p_of(variable + '_at_horizon')} (full windows: {p_of(variable)})"
        for what, variable in (
            ("first-RAIT response, o-RAIT vs m-RAIT:", "first_response"),
            ("last-RAIT response:", "last_response"),
            ("m-RAIT first vs last:", "m_rait_first_vs_last"),
        )
    ]
    return (
        "Reading: judged on the evidence up to each administration + response_horizon_months (windows of the same "
        "length, where an o-RAIT cycle otherwise runs to last contact), the "
        + "; ".join(parts)
        + ". A difference seen on the full windows but not at the horizon is consistent with the unequal "
        "evaluation windows rather than with the treatment."
    )


# --------------------------------------------------------------------------- Table 3


def _ratio_text(row: Mapping[str, Any] | None, key: str = "or") -> tuple[str, str]:
    """``("est (lo-hi)", "p")`` of an odds or hazard ratio row (``key``: ``or`` or ``hr``)."""
    if row is None:
        return "", ""
    est, lo, hi = finite_or_none(row.get(key)), finite_or_none(row.get("ci_low")), finite_or_none(row.get("ci_high"))
    if est is None:
        return "not estimable", ""
    mark = " \u2020" if str(row.get("method") or "") == "firth" else ""
    ci = f"{lo:.3f}{DASH}{hi:.3f}" if lo is not None and hi is not None else "CI undefined"
    p = finite_or_none(row.get("p_value"))
    return f"{est:.3f} ({ci}){mark}", (format_p(p) if p is not None else "")


def _ratio_rows(
    univariable: Sequence[Mapping[str, Any]], multivariable: Sequence[Mapping[str, Any]], key: str
) -> list[Row]:
    """Table 3's rows: a continuous term on one line; a categorical one as a header, its REF line and its levels."""
    uni = [r for r in univariable if r.get("term") is not None]
    multi = {str(r.get("term")): r for r in multivariable}
    multi_vars = {str(r.get("variable")) for r in multi.values()}
    out: list[Row] = []
    seen: set[str] = set()
    for r in uni:
        variable = str(r.get("variable") if r.get("variable") is not None else r.get("term"))
        reference = r.get("reference")
        if reference is None:
            level = r.get("level")
            label = variable_label(variable)
            label = f"{label} ({level})" if level else label
            u_est, u_p = _ratio_text(r, key)
            m_est, m_p = _ratio_text(multi.get(str(r["term"])), key)
            out.append(
                Row(
                    [
                        Cell(label, "label"),
                        Cell(u_est, f"uni_{key}", "num"),
                        Cell(u_p, "uni_p", "num"),
                        Cell(m_est, f"multi_{key}", "num"),
                        Cell(m_p, "multi_p", "num"),
                    ],
                    {"term": str(r["term"]), "variable": variable},
                    "single",
                )
            )
            continue
        if variable not in seen:
            seen.add(variable)
            out.append(
                Row(
                    [Cell(variable_label(variable), "label")] + [Cell("") for _ in range(4)],
                    {"variable": variable},
                    "variable",
                )
            )
            in_multi = variable in multi_vars
            out.append(
                Row(
                    [
                        Cell(level_label(reference), "level"),
                        Cell("REF", f"uni_{key}", "num"),
                        Cell(""),
                        Cell("REF" if in_multi else "", f"multi_{key}", "num"),
                        Cell(""),
                    ],
                    {"variable": variable, "level": str(reference)},
                    "reference",
                )
            )
        u_est, u_p = _ratio_text(r, key)
        m_est, m_p = _ratio_text(multi.get(str(r["term"])), key)
        out.append(
            Row(
                [
                    Cell(level_label(r.get("level")), "level"),
                    Cell(u_est, f"uni_{key}", "num"),
                    Cell(u_p, "uni_p", "num"),
                    Cell(m_est, f"multi_{key}", "num"),
                    Cell(m_p, "multi_p", "num"),
                ],
                {"term": str(r["term"]), "variable": variable, "level": str(r.get("level"))},
                "level",
            )
        )
    return out


def logistic_table(logistic: Mapping[str, Any], n_eligible: Any, caption: str) -> TableLayout:
    """Table 3: univariable and multivariable odds ratios of progression, REF rows as the paper prints them."""
    columns = ["Characteristic", "Univariable OR (95% CI)", "P value", "Multivariable OR (95% CI)", "P value "]
    out = _ratio_rows(logistic.get("univariable") or [], logistic.get("multivariable") or [], "or")
    threshold = logistic.get("selection_threshold")
    notes = [
        f"Outcome: {logistic.get('outcome', 'pfs_event')} (progression or death after the first RAIT), "
        f"n = {logistic.get('n_obs', n_eligible)}"
        + (f", {logistic['n_events']} events" if logistic.get("n_events") is not None else "")
        + ".",
        f"Characteristics with a univariable P value < {threshold} entered the multivariable model."
        if threshold is not None
        else "",
        "\u2020 Firth penalised-likelihood estimate (the maximum likelihood odds ratio does not exist: separation).",
    ]
    return TableLayout("table3", caption, columns, out, [n for n in notes if n])


def cox_table(cox: Mapping[str, Any], caption: str) -> TableLayout:
    """Table 3's Cox counterpart: univariable and multivariable hazard ratios of progression, laid out as Table 3."""
    columns = ["Characteristic", "Univariable HR (95% CI)", "P value", "Multivariable HR (95% CI)", "P value "]
    multivariable = cox.get("multivariable")
    rows = multivariable if isinstance(multivariable, list) else []
    out = _ratio_rows(cox.get("univariable") or [], rows, "hr")
    threshold = cox.get("selection_threshold")
    notes = [
        f"Cox models of progression-free survival (pfs_months, pfs_event; Efron ties, Wald CI), "
        f"n = {cox.get('n_obs')}, {cox.get('n_events')} events; same characteristics, reference levels and "
        f"selection (univariable P < {threshold}) as Table 3.",
        str(cox.get("interpretation") or ""),
    ]
    if isinstance(multivariable, Mapping) and multivariable.get("skipped"):
        notes.append(f"No multivariable model: {multivariable.get('reason')}.")
    notes += [f"{r['term']}: {r['note']}." for r in cox.get("univariable") or [] if r.get("note")]
    return TableLayout("table3_cox", caption, columns, out, [n for n in notes if n])


def _term_name(row: Mapping[str, Any]) -> str:
    variable = variable_label(row.get("variable"))
    level, reference = row.get("level"), row.get("reference")
    if reference is None:
        return f"{variable} ({level})" if level else variable
    return f"{variable}: {level_label(level)} vs {level_label(reference)}"


def cox_reading(cox: Mapping[str, Any]) -> str:
    """One line for a clinician from Table 3's Cox counterpart (observational: "consistent with", never "shown")."""
    if cox.get("skipped"):
        return f"Cox models of progression not fitted: {cox.get('reason')}."
    multivariable = cox.get("multivariable")
    model, rows = "multivariable", multivariable if isinstance(multivariable, list) and multivariable else None
    if rows is None:
        model, rows = "univariable", list(cox.get("univariable") or [])
    higher, lower, unclear = [], [], []
    for r in rows:
        hr, lo, hi = (finite_or_none(r.get(k)) for k in ("hr", "ci_low", "ci_high"))
        if hr is None or lo is None or hi is None:
            continue
        text = f"{_term_name(r)} (HR {hr:.2f}, {lo:.2f}{DASH}{hi:.2f})"
        (higher if lo > 1 else lower if hi < 1 else unclear).append(text)
    parts = []
    if higher:
        parts.append("Consistent with a higher hazard of progression: " + "; ".join(higher) + ".")
    if lower:
        parts.append("Consistent with a lower hazard: " + "; ".join(lower) + ".")
    if unclear:
        parts.append("95% CI including 1 (no association, or one in either direction): " + "; ".join(unclear) + ".")
    if not parts:
        return f"No hazard ratio could be estimated in the {model} Cox model."
    return f"Reading ({model} Cox model, time to progression). " + " ".join(parts)


# --------------------------------------------------------------------------- survival, matching, cut-points


def _pct_ci(group: Mapping[str, Any]) -> str:
    s = finite_or_none(group.get("pfs_5y"))
    if s is None:
        return DASH
    lo, hi = finite_or_none(group.get("pfs_5y_ci_low")), finite_or_none(group.get("pfs_5y_ci_high"))
    ci = f"{100 * lo:.1f}{DASH}{100 * hi:.1f}" if lo is not None and hi is not None else "CI undefined"
    return f"{100 * s:.1f} ({ci})"


def _hr_text(analysis: Mapping[str, Any]) -> str:
    hr = finite_or_none(analysis.get("hr"))
    if hr is None:
        return ""
    lo, hi = finite_or_none(analysis.get("hr_ci_low")), finite_or_none(analysis.get("hr_ci_high"))
    ci = f"{lo:.2f}{DASH}{hi:.2f}" if lo is not None and hi is not None else "CI undefined"
    return f"{hr:.2f} ({ci})"


def _stratified_row(analysis: Mapping[str, Any], columns: int) -> Row | None:
    """The matched cohort's pair-stratified Cox model as a sensitivity line of the survival table."""
    strat = analysis.get("hr_stratified")
    if not strat:
        return None
    if strat.get("skipped"):
        hr = f"not estimable: {strat.get('reason')}"
        pairs = DASH
    else:
        hr = _hr_text({"hr": strat.get("hr"), "hr_ci_low": strat.get("ci_low"), "hr_ci_high": strat.get("ci_high")})
        pairs = f"{_int_text(strat.get('n_informative_strata'))} of {_int_text(strat.get('n_strata'))} pairs"
    cells = [
        Cell("  sensitivity: Cox model stratified by pair", "analysis"),
        Cell("pairs informative", "group"),
        Cell(pairs, "n", "num"),
        Cell(_int_text(strat.get("events")) if not strat.get("skipped") else DASH, "events", "num"),
        Cell("", "median_months"),
        Cell("", "pfs_5y"),
        Cell("", "logrank_p"),
        Cell(hr, "hr", "num"),
    ]
    cells += [Cell("", "interaction_p")] * (columns - len(cells))
    return Row(cells, {"analysis": "matched_pair_stratified", "group": "pairs"}, "single")


def _interaction_text(analysis: Mapping[str, Any]) -> str:
    inter = analysis.get("interaction")
    if not inter:
        return ""
    if inter.get("skipped"):
        return "not testable"
    p = finite_or_none(inter.get("p"))
    return "" if p is None else f"{format_p(p)} ({inter.get('factor')})"


def survival_table(
    analyses: Sequence[tuple[str, str, Mapping[str, Any]]], caption: str, group_labels: Mapping[str, str] | None = None
) -> TableLayout:
    """One line per group of each survival analysis: n, events, median, 5-year PFS; log-rank p, HR and
    (Fig. 4 panels) the interaction test on its first line.

    ``analyses``: ``(key, title, results.json analysis)``. The matched analysis is followed by its
    pair-stratified model (``hr_stratified``); an HR that is not reported shows its reason.
    """
    group_labels = dict(group_labels or {})
    columns = [
        "Analysis",
        "Group",
        "n",
        "Events",
        "Median PFS (months)",
        "5-year PFS, % (95% CI)",
        "Log-rank P",
        "HR (95% CI)",
        "Interaction P (factor)",
    ]
    out: list[Row] = []
    for key, title, analysis in analyses:
        groups = analysis.get("groups") or {}
        p = finite_or_none(analysis.get("logrank_p"))
        hr = _hr_text(analysis)
        if hr and analysis.get("hr_comparison"):
            hr += f" [{level_label(analysis['hr_comparison'])} vs {level_label(analysis.get('hr_reference'))}]"
        elif not hr and len(groups) == 2 and analysis.get("hr_reason"):
            hr = f"not reported: {analysis['hr_reason']}"
        for i, (name, g) in enumerate(groups.items()):
            median = finite_or_none(g.get("median_months"))
            out.append(
                Row(
                    [
                        Cell(title if i == 0 else "", "analysis"),
                        Cell(group_labels.get(name, level_label(name)), "group"),
                        Cell(_int_text(g.get("n")), "n", "num"),
                        Cell(_int_text(g.get("events")), "events", "num"),
                        Cell("NR" if median is None else f"{median:.1f}", "median_months", "num"),
                        Cell(_pct_ci(g), "pfs_5y", "num"),
                        Cell((format_p(p) if p is not None else "") if i == 0 else "", "logrank_p", "num"),
                        Cell(hr if i == 0 else "", "hr", "num"),
                        Cell(_interaction_text(analysis) if i == 0 else "", "interaction_p", "num"),
                    ],
                    {"analysis": key, "group": str(name)},
                    "single",
                )
            )
        extra = _stratified_row(analysis, len(columns))
        if extra is not None:
            out.append(extra)
    notes = [
        "NR: median not reached. 5-year PFS is the Kaplan-Meier step value at 60 months with a pointwise "
        "log-log 95% CI; HR from a Cox model (Efron ties), the second group against the first.",
        "Matched cohort: the HR's CI uses the SE robust to the pairing (pairs as clusters, Austin 2014); the "
        "pair-stratified model compares patients only within their pair (pairs whose first progression "
        "occurred with the partner still at risk carry the information).",
        "Fig. 4 panels: no HR when an arm has fewer than the minimum number of patients or the panel too few "
        "progression events (the reason is given); the interaction P is the likelihood-ratio test of RAIT group "
        "x subgroup factor in a Cox model (panels A/D and B/E share a factor).",
    ]
    return TableLayout("survival", caption, columns, out, notes)


def balance_table(matching: Mapping[str, Any], caption: str, labels: Mapping[str, str]) -> TableLayout:
    """Standardised mean differences before and after matching."""
    out = []
    for r in matching.get("balance") or []:
        before, after = finite_or_none(r.get("smd_before")), finite_or_none(r.get("smd_after"))
        name = str(r.get("covariate"))
        out.append(
            Row(
                [
                    Cell(labels.get(name, variable_label(name)), "covariate"),
                    Cell(DASH if before is None else f"{before:.3f}", "smd_before", "num"),
                    Cell(DASH if after is None else f"{after:.3f}", "smd_after", "num"),
                ],
                {"covariate": name},
                "single",
            )
        )
    n_unmatched = matching.get("n_unmatched") or {}
    caliper = matching.get("caliper")
    notes = [
        f"{matching.get('n_pairs', 0)} pairs; caliper {caliper} ({matching.get('caliper_scale', '')} scale); "
        "not matched: " + ", ".join(f"{g} {n}" for g, n in n_unmatched.items()) + "."
        if n_unmatched
        else f"{matching.get('n_pairs', 0)} pairs; caliper {caliper}.",
        "SMD = difference in means (o-RAIT minus m-RAIT) over the SD of the focal group before matching; "
        "|SMD| < 0.1 is conventionally taken as balance.",
    ]
    return TableLayout("balance", caption, ["Covariate", "SMD before matching", "SMD after matching"], out, notes)


def baseline_balance_table(section: Mapping[str, Any], caption: str, labels: Mapping[str, str]) -> TableLayout:
    """SMD of every Table 1 characteristic (one line per level) before and after matching, flagged above the threshold."""
    threshold = finite_or_none(section.get("smd_threshold")) or 0.1
    out = []
    for r in section.get("rows") or []:
        before, after = finite_or_none(r.get("smd_before")), finite_or_none(r.get("smd_after"))
        name, level = str(r.get("covariate")), r.get("level")
        flag = "|SMD| > " + f"{threshold:g}" if r.get("imbalanced_after") else ""
        out.append(
            Row(
                [
                    Cell(labels.get(name, variable_label(name)), "covariate"),
                    Cell(DASH if level is None else level_label(level), "level"),
                    Cell(DASH if before is None else f"{before:.3f}", "smd_before", "num"),
                    Cell(DASH if after is None else f"{after:.3f}", "smd_after", "num"),
                    Cell(flag, "imbalanced_after"),
                    Cell("yes" if r.get("matching_covariate") else "", "matching_covariate"),
                ],
                {"covariate": name, "level": str(level)},
                "single",
            )
        )
    notes = [
        str(section.get("definition") or ""),
        f"Flag: |SMD| > {threshold:g} after matching (the conventional threshold of balance). Missing values "
        "(and ATA 'unknown') are left out of a characteristic's SMD.",
    ]
    columns = ["Characteristic", "Level", "SMD before matching", "SMD after matching", "Imbalanced", "Matched on"]
    return TableLayout("balance_baseline", caption, columns, out, notes)


def ph_table(section: Mapping[str, Any], caption: str) -> TableLayout:
    """The proportional-hazards test (R cox.zph) of every reported Cox model: each term and the global test."""
    alpha = finite_or_none(section.get("alpha")) or 0.05
    out = []
    for key, entry in (section.get("models") or {}).items():
        description = str(entry.get("description") or key)
        if entry.get("skipped"):
            cells = [
                Cell(description, "model"),
                Cell(f"not tested: {entry.get('reason')}", "terms"),
                Cell(""),
                Cell(""),
            ]
        else:
            terms = "; ".join(
                f"{t['term']} \u03c7\u00b2 {t['chisq']:.2f} ({t['df']} df), P {format_p(t['p'])}"
                for t in entry["terms"]
            )
            g = entry["global"]
            cells = [
                Cell(description, "model"),
                Cell(terms, "terms"),
                Cell(f"{g['chisq']:.2f} ({g['df']} df)", "global_chisq", "num"),
                Cell(format_p(g["p"]) + (" *" if entry.get("violated") else ""), "global_p", "num"),
            ]
        out.append(Row(cells, {"model": str(key)}, "single"))
    notes = [
        str(section.get("method") or ""),
        f"*: a term or the global test has P < {alpha:g}: the hazard ratio of that model averages an effect that "
        "changes over follow-up.",
    ]
    columns = ["Cox model", "Terms", "Global \u03c7\u00b2", "Global P"]
    return TableLayout("proportional_hazards", caption, columns, out, notes)


def cutpoint_table(rows: Sequence[Mapping[str, Any]], caption: str) -> TableLayout:
    out = []
    for r in rows:
        cut, stat, p = (
            finite_or_none(r.get("cutpoint")),
            finite_or_none(r.get("statistic")),
            finite_or_none(r.get("p_value")),
        )
        name = str(r.get("variable"))
        out.append(
            Row(
                [
                    Cell(variable_label(name), "variable"),
                    Cell(DASH if cut is None else f"{cut:g}", "cutpoint", "num"),
                    Cell(DASH if stat is None else f"{stat:.3f}", "statistic", "num"),
                    Cell(DASH if p is None else format_p(p), "p_value", "num"),
                    Cell(str(r.get("method") or ""), "method"),
                ],
                {"variable": name},
                "single",
            )
        )
    notes = [
        "Maximally selected log-rank statistic for PFS over the cut-points between the 10th and 90th "
        "percentiles; the P value corrects for the search (it can exceed the nominal P of any single cut)."
    ]
    return TableLayout("cutpoints", caption, ["Variable", "Cut-point", "Statistic", "P value", "Method"], out, notes)


def _median_range(entry: Mapping[str, Any] | None, digits: int = 1) -> str:
    med, lo, hi = (finite_or_none((entry or {}).get(k)) for k in ("median", "min", "max"))
    if med is None or lo is None or hi is None:
        return "n/a"
    return f"{med:.{digits}f} (range {lo:.{digits}f}{DASH}{hi:.{digits}f})"


def cohort_summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The cohort's numbers outside the tables (RAIT cycles, follow-up, deaths), then a one-line reading."""
    cycles = summary.get("m_rait_cycles") or {}
    follow = summary.get("follow_up_months") or {}
    deaths = summary.get("deaths") or {}
    o, m = follow.get("o_rait") or {}, follow.get("m_rait") or {}
    death_text = (
        f"deaths: not available ({deaths.get('reason')})"
        if deaths.get("skipped")
        else f"deaths: {deaths.get('overall')} (o-RAIT {deaths.get('o_rait')}, m-RAIT {deaths.get('m_rait')}"
        + (f"; {deaths['ending_pfs']} before any progression" if deaths.get("ending_pfs") is not None else "")
        + ")"
    )
    facts = (
        f"m-RAIT patients received a median of {_median_range(cycles, 0)} RAIT cycles. Median follow-up from the "
        f"first RAIT to death or last contact: {_median_range(follow.get('overall'))} months (o-RAIT "
        f"{_median_range(o)}, m-RAIT {_median_range(m)}); {death_text}."
    )
    lo, hi = (
        finite_or_none((follow.get("overall") or {}).get("min")),
        finite_or_none((follow.get("overall") or {}).get("max")),
    )
    o_med, m_med = finite_or_none(o.get("median")), finite_or_none(m.get("median"))
    if lo is None or hi is None or o_med is None or m_med is None:
        return [facts]
    reading = (
        f"Reading: follow-up ranges from {lo:.0f} to {hi:.0f} months and its median differs between the groups "
        f"({o_med:.1f} vs {m_med:.1f} months), so whether a patient has progressed depends partly on how long they "
        "were watched; the time-to-event analyses (Kaplan-Meier, Cox) account for this, a yes/no outcome does not."
    )
    return [facts, reading]


def _hr_ci(analysis: Mapping[str, Any]) -> tuple[float, float, float] | None:
    values = tuple(finite_or_none(analysis.get(k)) for k in ("hr", "hr_ci_low", "hr_ci_high"))
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def censoring_lines(censoring: Mapping[str, Any], overall: Mapping[str, Any] | None) -> list[str]:
    """The survival section's statement of the PFS censoring rule, and a reading of the last-contact sensitivity."""
    revision, source = censoring.get("contract_revision"), str(censoring.get("source"))
    rule = (
        f"PFS without progression or death is {censoring.get('description')} "
        f"(pfs_censoring = {censoring.get('rule')}; from {source}"
        + (f"; contract revision {revision}" if revision is not None and "contract revision" not in source else "")
        + ")."
    )
    sens = censoring.get("last_contact_sensitivity") or {}
    if sens.get("skipped"):
        return [rule, f"Sensitivity analysis with PFS censored at last contact: not run ({sens.get('reason')})."]
    eligible = sens.get("eligible") or {}
    now, alt = _hr_ci(overall or {}), _hr_ci(eligible)
    if now is None or alt is None:
        return [rule, "Sensitivity analysis with PFS censored at last contact: the hazard ratio is not estimable."]

    def side(ci: tuple[float, float, float]) -> str:
        return "above" if ci[1] > 1 else "below" if ci[2] < 1 else "across"

    def one(ci: tuple[float, float, float]) -> str:
        return {"above": "lies above 1", "below": "lies below 1", "across": "includes 1"}[side(ci)]

    same = side(now) == side(alt)
    pfs = "; ".join(
        f"{g} {100 * a:.1f}% vs {100 * b:.1f}%"
        for g in ("o-RAIT", "m-RAIT")
        for a, b in [
            (
                finite_or_none(((overall or {}).get("groups") or {}).get(g, {}).get("pfs_5y")),
                finite_or_none((eligible.get("groups") or {}).get(g, {}).get("pfs_5y")),
            )
        ]
        if a is not None and b is not None
    )
    reading = (
        f"Reading: m-RAIT vs o-RAIT HR {now[0]:.2f} ({now[1]:.2f}{DASH}{now[2]:.2f}) with the rule in force and "
        f"{alt[0]:.2f} ({alt[1]:.2f}{DASH}{alt[2]:.2f}) censored at last contact"
        + (f" (5-year PFS {pfs})" if pfs else "")
        + (
            f"; both intervals {one(now).replace('lies', 'lie').replace('includes', 'include')}, so the comparison is "
            "consistent under either censoring rule."
            if same
            else f"; the interval {one(now)} with the rule in force and {one(alt)} censored at last contact, so the "
            "comparison depends on the censoring rule."
        )
    )
    return [rule, reading]


def paragraphs(lines: Iterable[str], cls: str = "reading") -> str:
    """Lines of generated text as ``<p>`` elements."""
    return "".join(f'<p class="{cls}">{html.escape(line)}</p>' for line in lines)


# --------------------------------------------------------------------------- HTML


def _attrs(attrs: Mapping[str, str]) -> str:
    return "".join(f' data-{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())


def render_table(layout: TableLayout) -> str:
    """``<table>`` of a layout, with ``data-*`` attributes for machine reading."""
    parts = [
        f'<table class="results" id="table-{layout.table_id}" data-table="{layout.table_id}">',
        f"<caption>{html.escape(layout.caption)}</caption>",
        "<thead><tr>",
    ]
    parts += [f"<th>{html.escape(c)}</th>" for c in layout.columns]
    parts.append("</tr></thead><tbody>")
    for row in layout.rows:
        parts.append(f'<tr class="{row.kind}"{_attrs(row.attrs)}>')
        for i, cell in enumerate(row.cells):
            col = f' data-col="{cell.col}"' if cell.col else ""
            cls = f' class="{cell.cls}"' if cell.cls else ""
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            parts.append(f"<{tag}{scope}{cls}{col}>{html.escape(cell.text)}</{tag}>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if layout.footnotes:
        parts.append(
            '<div class="footnotes">' + "".join(f"<p>{html.escape(n)}</p>" for n in layout.footnotes) + "</div>"
        )
    return "\n".join(parts)


def render_figure(files: FigureFiles, number: str, caption: str, alt: str, scale: float = 1.0) -> str:
    """``<figure>`` with the PNG embedded as base64 (no network, no files needed to view it).

    The embedded PNG is 150 dpi and shown at about 100 dpi times ``scale`` (sharp on
    high-density screens).
    """
    data = base64.b64encode(files.png_bytes).decode("ascii")
    width = round(files.width_px / 1.5 * scale)
    return (
        f'<figure id="fig-{files.name}">'
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
        f'width="{width}" style="max-width:100%;height:auto">'
        f"<figcaption><strong>{html.escape(number)}</strong> {html.escape(caption)} "
        f'<span class="files">Files: figures/{html.escape(files.svg.name)}, figures/{html.escape(files.png.name)}'
        f"</span></figcaption></figure>"
    )


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1180px;
margin:0 auto;padding:24px 28px 60px;line-height:1.45;font-size:14px;background:#fff}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin-top:38px;border-bottom:2px solid #0072B2;
padding-bottom:4px} h3{font-size:15px;margin-top:24px}
.subtitle{color:#555;margin:0 0 18px}
.summary{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}
.summary div{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:120px}
.summary b{display:block;font-size:22px}
table.results{border-collapse:collapse;margin:10px 0 4px;font-size:13px;width:100%}
table.results caption{text-align:left;font-weight:600;padding:4px 0 8px;font-size:14px}
table.results th,table.results td{padding:3px 8px;text-align:left;vertical-align:top}
table.results thead th{border-top:2px solid #222;border-bottom:1px solid #222;background:#fafafa}
table.results tbody tr:last-child>*{border-bottom:2px solid #222}
table.results td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.results td.test{color:#555;font-size:12px}
table.results tr.level th,table.results tr.reference th{padding-left:24px;font-weight:normal}
table.results tr.variable th,table.results tr.single th{font-weight:600}
table.results tbody tr:nth-child(even){background:#f7f9fb}
.footnotes{font-size:12px;color:#444} .footnotes p{margin:2px 0}
figure{margin:18px 0;text-align:center} figcaption{text-align:left;font-size:13px;color:#333;margin-top:6px}
figcaption .files{display:block;color:#777;font-size:11px}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;font-size:13px;
background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px}
dl.prov dt{font-weight:600} dl.prov dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;
word-break:break-all}
.notes li{margin:3px 0} .warn{color:#8a4b00}
p.skipped{border-left:4px solid #8a4b00;background:#fdf6ec;padding:6px 12px;color:#5a3200}
p.reading{border-left:4px solid #0072B2;background:#f2f7fb;padding:6px 10px;margin:8px 0}
table.params{border-collapse:collapse;font-size:13px} table.params td,table.params th{border:1px solid #d0d7de;
padding:2px 8px;text-align:left} table.params td.over{font-weight:700;color:#8a4b00}
nav.toc{font-size:13px;columns:2;margin:10px 0 0} nav.toc a{color:#0072B2}
@media print{body{max-width:none;padding:0} h2{page-break-before:auto} figure,table{page-break-inside:avoid}}
"""


def render_page(
    *,
    title: str,
    subtitle: str,
    summary: Sequence[tuple[str, str]],
    sections: Sequence[tuple[str, str, str]],
    provenance: Sequence[tuple[str, str]],
    parameters: Sequence[tuple[str, str, str, bool]],
    notes: Sequence[str],
) -> str:
    """The whole self-contained page.

    ``sections``: ``(anchor, heading, inner html)``; ``parameters``: ``(name, value in
    force, default, overridden)``.
    """
    e = html.escape
    toc = "".join(f'<li><a href="#{a}">{e(h)}</a></li>' for a, h, _ in sections)
    prov = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in provenance)
    params = "".join(
        f'<tr><td>{e(n)}</td><td class="{"over" if o else ""}">{e(v)}</td><td>{e(d)}</td></tr>'
        for n, v, d, o in parameters
    )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{e(title)}</h1><p class="subtitle">{e(subtitle)}</p>',
        '<div class="summary">' + "".join(f"<div><b>{e(v)}</b>{e(k)}</div>" for k, v in summary) + "</div>",
        f'<nav class="toc"><ol>{toc}<li><a href="#provenance">Provenance and study parameters</a></li></ol></nav>',
        "</header><main>",
    ]
    for anchor, heading, inner in sections:
        body.append(f'<section id="{anchor}"><h2>{e(heading)}</h2>{inner}</section>')
    body.append('<section id="provenance"><h2>Provenance and study parameters</h2>')
    body.append(f'<dl class="prov">{prov}</dl>')
    body.append("<h3>Study parameters in force (dbt vars)</h3>")
    body.append(
        '<table class="params"><thead><tr><th>Parameter</th><th>Value in force</th><th>Default '
        "(dbt_project.yml)</th></tr></thead><tbody>" + params + "</tbody></table>"
    )
    if notes:
        body.append(
            '<h3>Notes on this report</h3><ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"
        )
    body.append("</section></main></body></html>")
    return "\n".join(body)


def render_skipped(reason: str) -> str:
    """The place of an analysis the cohort is too small for: why it was skipped."""
    return f'<p class="skipped">Not estimated: {html.escape(reason)}.</p>'
