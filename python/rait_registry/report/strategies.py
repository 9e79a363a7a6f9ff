"""The report's section on the target-trial emulation of treatment strategies (results.json ``strategies``).

The target-trial protocol table (Hernan & Robins 2016), the weighted Kaplan-Meier curves of the
two strategies, the PFS estimates with their CIs and the sentence of the analysis (which states
the no-unmeasured-confounding assumption beside the result). The statistics are in
`rait_registry.analysis.strategies`; this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..analysis.skips import is_skipped
from ..analysis.strategies import _truncation_text
from . import figures as F
from .html import Cell, Row, TableLayout, paragraphs, render_figure, render_skipped, render_table

__all__ = ["render_strategies"]

_COLORS = ("#0072B2", "#D55E00")


def _pct(entry: Mapping[str, Any]) -> str:
    est, lo, hi = entry.get("estimate"), entry.get("ci_low"), entry.get("ci_high")
    if est is None:
        return "not estimable"
    ci = "" if lo is None or hi is None else f" ({100 * lo:.1f} to {100 * hi:.1f})"
    return f"{100 * est:.1f}{ci}"


def _num(x: Any) -> str:
    return "not estimable" if x is None else f"{x:.2f}"


def _km_figure(section: Mapping[str, Any]) -> Any:
    fig = F._figure(6.4, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for (arm, curve), color in zip(section["km_curves"].items(), _COLORS, strict=False):
        ax.step(curve["time"], curve["survival"], where="post", color=color, label=section["arms"][arm]["label"])
    ax.set_xlabel("Months since the first RAIT")
    ax.set_ylabel("Progression-free survival (weighted)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", frameon=False)
    ax.set_title("Emulated target trial: clones weighted for artificial censoring", fontsize=10)
    return fig


def render_strategies(section: Mapping[str, Any], fig_dir: Path, tab_dir: Path) -> str:
    """HTML of the strategies section; writes its figure and the CSV of its two tables."""
    if is_skipped(section):
        return render_skipped(section["reason"])
    protocol = TableLayout(
        "strategies_protocol",
        "Target-trial protocol and its emulation (Hernan & Robins 2016)",
        ["Component", "Target trial", "Emulation in the registry"],
        [Row([Cell(r["component"]), Cell(r["target_trial"]), Cell(r["emulation"])]) for r in section["protocol"]],
    )
    arms = section["arms"]
    rows = []
    for entry in section["estimates"]:
        months = entry["horizon_months"]
        rows.append(
            Row(
                [
                    Cell(f"PFS at {months:g} months, %"),
                    Cell(_pct(entry["one_rait_surveillance"])),
                    Cell(_pct(entry["second_rait_within_grace"])),
                    Cell(_pct(entry["difference"])),
                ]
            )
        )
    hr = section.get("hazard_ratio") or {}
    hr_text = (
        f"HR of {arms['second_rait_within_grace']['label']} vs {arms['one_rait_surveillance']['label']}: "
        f"{_num(hr['hr'])} ({_num(hr.get('ci_low'))} to {_num(hr.get('ci_high'))}; {hr.get('se_method')})."
        if hr.get("hr") is not None
        else f"No hazard ratio: {hr.get('reason', 'not estimable')}."
    )
    estimates = TableLayout(
        "strategies",
        f"PFS under each strategy, weighted Kaplan-Meier (95% CI, {section['ci_method']})",
        [
            "",
            arms["one_rait_surveillance"]["label"],
            arms["second_rait_within_grace"]["label"],
            "Difference (first minus second), points",
        ],
        rows,
        footnotes=[
            f"{section['n_patients']} eligible patients cloned into both strategies; "
            f"{arms['one_rait_surveillance']['events']} and {arms['second_rait_within_grace']['events']} events "
            f"among the uncensored clones; weights stabilised, "
            f"{_truncation_text(section['weights']['truncation_percentile'])} "
            f"(largest {section['weights']['max']:.1f}).",
            hr_text,
        ],
    )
    for layout in (protocol, estimates):
        layout.to_frame().to_csv(tab_dir / f"paper_{layout.table_id}.csv", index=False)
    files = F.save_figure(_km_figure(section), fig_dir, "fig_strategies_km")
    figure = render_figure(
        files,
        "Figure S.",
        "Weighted Kaplan-Meier PFS of the two emulated strategies (clone-censor-weight).",
        "Weighted Kaplan-Meier curves of progression-free survival under the two treatment strategies",
    )
    return render_table(protocol) + paragraphs([section["sentence"]]) + render_table(estimates) + figure
