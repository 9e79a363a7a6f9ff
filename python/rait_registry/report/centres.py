"""The report's centre sections: stratified results, the per-centre forest plot, Table 1 by centre.

`render_centres` turns results.json ``centres`` (`rait_registry.analysis.centres`) into the
report's "Centres" section -- the generated readings, a table of the per-centre and stratified
hazard ratios with the heterogeneity row, and a forest plot of the per-centre HRs with the pooled
estimates -- and an appendix with Table 1 by centre (computed from the cohort mart, as
``tables/centres_table1.csv``). A skipped section (one centre) shows its reason and no appendix.
Each table is written as ``tables/paper_<id>.csv`` from the cells shown.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.centres import table1_by_centre
from ..analysis.formatting import format_p
from ..analysis.skips import is_skipped
from . import figures as F
from .html import Cell, Row, TableLayout, paragraphs, render_figure, render_skipped, render_table

__all__ = ["centre_forest_figure", "centre_hr_table", "render_centres"]


def _num(x: Any, digits: int = 2) -> str:
    v = F.finite_or_none(x)
    return "n/a" if v is None else f"{v:.{digits}f}"


def _hr_ci(row: Mapping[str, Any]) -> str:
    if F.finite_or_none(row.get("hr")) is None:
        return "not estimable"
    return f"{_num(row['hr'])} ({_num(row.get('ci_low'))} to {_num(row.get('ci_high'))})"


def centre_hr_table(section: Mapping[str, Any]) -> TableLayout:
    """Per-centre hazard ratios, the model stratified by centre and the pooled estimates."""
    columns = ["Centre", "Patients", "Events", "HR (95% CI)", "P value", "Note"]
    rows = []
    for c in section["centres"]:
        rows.append(
            Row(
                [
                    Cell(str(c["center_id"])),
                    Cell(str(c["n"]), "n", "num"),
                    Cell(str(c["events"]), "events", "num"),
                    Cell(_hr_ci(c), "hr", "num"),
                    Cell(format_p(F.finite_or_none(c.get("p"))), "p", "num"),
                    Cell(c.get("reason") or ""),
                ],
                {"data-centre": str(c["center_id"])},
                "single",
            )
        )
    cox = section["cox_stratified"]
    rows.append(
        Row(
            [
                Cell("Stratified by centre (Cox)"),
                Cell(str(section["n"]), "n", "num"),
                Cell(str(section["events"]), "events", "num"),
                Cell("not estimable" if is_skipped(cox) else _hr_ci(cox), "hr", "num"),
                Cell("" if is_skipped(cox) else format_p(F.finite_or_none(cox.get("p"))), "p", "num"),
                Cell(cox["reason"] if is_skipped(cox) else "coxph(Surv ~ group + strata(centre))"),
            ],
            {"data-centre": "stratified"},
            "single",
        )
    )
    het = section["heterogeneity"]
    if not is_skipped(het):
        for key, name in (("fixed", "Pooled, fixed effect"), ("random", "Pooled, random effects (DerSimonian-Laird)")):
            rows.append(
                Row(
                    [Cell(name), Cell(""), Cell(""), Cell(_hr_ci(het[key]), "hr", "num"), Cell(""), Cell("")],
                    {"data-centre": f"pooled_{key}"},
                    "single",
                )
            )
    lr = section["logrank_stratified"]
    notes = [
        f"Hazard ratio of {section.get('hr_comparison')} vs {section.get('hr_reference')} (Cox, Efron ties, Wald "
        "95% CI); a centre without events in a group has no estimable HR. Log-rank test stratified by centre: "
        + (f"chi-square {_num(lr['chi2'])} on 1 df, P = {format_p(lr['p'])}." if lr.get("p") is not None else "")
        + (lr.get("reason") or ""),
        "Heterogeneity: "
        + (
            het["reason"]
            if is_skipped(het)
            else f"Cochran's Q {_num(het['q'])} on {het['df']} df (P = {format_p(het['p'])}), I-squared "
            f"{100 * het['i2']:.0f}%, tau-squared {het['tau2']:.3f}, over {het['n_centres']} centres."
        ),
    ]
    if section.get("n_unknown"):
        notes.append(
            f"'unknown': {section['n_unknown']} patient(s) without a centre in the extract, a stratum of its own."
        )
    caption = "Progression-free survival by centre: per-centre and centre-stratified hazard ratios"
    return TableLayout("centres", caption, columns, rows, notes)


@F._styled
def centre_forest_figure(section: Mapping[str, Any]) -> Figure:
    """Forest plot of the per-centre hazard ratios (95% CI, log scale), the stratified and pooled ones."""
    entries: list[tuple[str, Mapping[str, Any], str]] = [
        (f"{c['center_id']} (n = {c['n']}, {c['events']} events)", c, "centre") for c in section["centres"]
    ]
    if not is_skipped(section["cox_stratified"]):
        entries.append(("Stratified by centre", section["cox_stratified"], "summary"))
    het = section["heterogeneity"]
    if not is_skipped(het):
        entries.append(("Pooled, random effects", het["random"], "summary"))
    n = len(entries)
    fig = F._figure(8.0, 1.3 + 0.36 * n)
    ax = fig.add_subplot(111)
    values = [F.finite_or_none(e.get(k)) for _, e, _ in entries for k in ("hr", "ci_low", "ci_high")]
    finite = [v for v in values if v is not None and v > 0]
    lo, hi = max(min(finite + [0.5]) / 1.4, 1e-2), min(max(finite + [2.0]) * 1.4, 1e2)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ys = np.arange(n)[::-1]
    ax.axvline(1.0, color="#555555", lw=0.8, ls="--")
    for y, (_, e, kind) in zip(ys, entries, strict=True):
        est, cl, ch = (F.finite_or_none(e.get(k)) for k in ("hr", "ci_low", "ci_high"))
        color = F.OKABE_ITO["blue"] if kind == "centre" else F.OKABE_ITO["vermillion"]
        if est is None:
            text = "not estimable"
        else:
            ax.plot([max(cl or lo, lo), min(ch or hi, hi)], [y, y], color=color, lw=1.4)
            ax.plot(min(max(est, lo), hi), y, marker="s" if kind == "centre" else "D", ms=6, color=color)
            text = f"{est:.2f} ({cl:.2f}\u2013{ch:.2f})"
        ax.annotate(text, xy=(1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=7.5)
    ax.set_yticks(ys)
    ax.set_yticklabels([label for label, _, _ in entries])
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel(f"Hazard ratio, {section.get('hr_comparison')} vs {section.get('hr_reference')} (log scale)")
    ax.tick_params(axis="y", length=0)
    title = "Hazard ratio of progression by centre"
    if not is_skipped(het):
        title += f" (I-squared {100 * het['i2']:.0f}%, Q P = {format_p(het['p'])})"
    fig.suptitle(title, x=0.02, ha="left", fontsize=10, fontweight="bold")
    fig.subplots_adjust(left=0.32, right=0.78)
    return fig


def _table1_layout(cohort: pd.DataFrame) -> TableLayout:
    frame = table1_by_centre(cohort)
    centres = [c for c in frame.columns if c not in ("variable", "label", "level", "statistic")]
    rows, last = [], None
    for r in frame.itertuples(index=False):
        record = r._asdict()
        label = record["label"] if record["level"] is None or pd.isna(record["level"]) else None
        if label is None and record["variable"] != last:
            rows.append(Row([Cell(str(record["label"]))] + [Cell("") for _ in centres], {}, "variable"))
        last = record["variable"]
        name = str(record["label"] if label else record["level"])
        if record["statistic"] == "median_iqr":
            name += ", median (IQR)"
        rows.append(
            Row(
                [Cell(name)] + [Cell(str(record[c]), c, "num") for c in centres],
                {"data-variable": str(record["variable"])},
                "single" if label else "level",
            )
        )
    notes = [
        "n (%) among the centre's patients with a known value; median (25th, 75th percentile). Descriptive, no test."
    ]
    caption = "Appendix. Table 1 by centre: characteristics of the eligible patients in each centre"
    return TableLayout("centres_table1", caption, ["Characteristic", *centres], rows, notes)


def render_centres(
    section: Mapping[str, Any] | None, cohort: pd.DataFrame, fig_dir: Path, tab_dir: Path
) -> list[tuple[str, str, str]]:
    """The report sections of results.json ``centres``: ``[(anchor, heading, html), ...]``.

    The "Centres" section (readings, table, forest plot) and, when the analysis ran, the appendix
    with Table 1 by centre; the tables are also written to ``tab_dir``. No section when the
    results predate the centres analysis.
    """
    if section is None:
        return []
    heading = "Centres: stratified analyses and heterogeneity"
    if is_skipped(section):
        return [("centres", heading, render_skipped(section["reason"]))]
    t_hr, t_1 = centre_hr_table(section), _table1_layout(cohort)
    for layout in (t_hr, t_1):
        layout.to_frame().to_csv(tab_dir / f"paper_{layout.table_id}.csv", index=False)
    files = F.save_figure(centre_forest_figure(section), fig_dir, "fig_forest_centres")
    figure = render_figure(
        files,
        "Fig. S-C",
        "Hazard ratio of progression (m-RAIT vs o-RAIT) in each centre with 95% CI, the model stratified by "
        "centre and, when estimable, the random-effects pooled estimate; log scale.",
        "Forest plot of hazard ratios by centre",
    )
    sentences = section.get("sentences") or {}
    body = paragraphs([sentences.get("stratified", ""), sentences.get("heterogeneity", "")])
    appendix = (
        "<p>" + html.escape("Patients without a centre in the extract form the stratum 'unknown'.") + "</p>"
        if section.get("n_unknown")
        else ""
    )
    return [
        ("centres", heading, body + render_table(t_hr) + figure),
        ("appendix_centres", "Appendix: Table 1 by centre", appendix + render_table(t_1)),
    ]
