"""Publication figures of the study report (matplotlib, Agg backend, Okabe-Ito palette).

Every public ``*_figure`` function takes tidy inputs (mart DataFrames, ``results.json``
sections as dicts) and returns a :class:`matplotlib.figure.Figure`; :func:`save_figure`
writes it as PNG and SVG and returns the PNG bytes that the HTML report embeds. No
function here performs a statistical test of its own: Kaplan-Meier estimates and their
95% log-log confidence bands come from lifelines ``KaplanMeierFitter`` and the numbers
printed inside the panels (log-rank p, hazard ratio, 5-year PFS) are those of
``results.json``. Where ``results.json`` lacks an analysis, :func:`fallback_survival_stats`
computes it with the analysis' own `rait_registry.analysis.SurvivalComparison` and the report
says so.

The figures follow the study (Shi et al., *Eur J Nucl Med Mol Imaging* 2025):

* Fig. 1 -- cohort attrition (CONSORT-style flow) from ``marts.cohort_attrition`` plus the
  patients lost to matching (:func:`attrition_figure`);
* Fig. 2 -- first -> last RAIT response per group, alluvial (:func:`sankey_figure`);
* Table 3 as a forest plot of odds ratios (:func:`forest_figure`);
* propensity-score matching diagnostics (:func:`love_figure`, :func:`propensity_figure`);
* Fig. 3 and 4 -- Kaplan-Meier PFS curves with censoring marks, 95% CI bands and a
  number-at-risk table (:func:`km_figure`, :func:`km_grid_figure`).

References
----------
Okabe M, Ito K. Color Universal Design (CUD): how to make figures and presentations that
are friendly to colorblind people. J*Fly, 2008.
Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. *BMJ* 2010;340:c332.
Austin PC. Balance diagnostics for comparing the distribution of baseline covariates
between treatment groups in propensity-score matched samples. *Stat Med*
2009;28:3083-3107 (the 0.1 SMD threshold of the Love plot).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from ..analysis.formatting import format_p
from ..contract import M_RAIT, O_RAIT, RAIT_GROUPS

__all__ = [
    "GROUP_COLORS",
    "OKABE_ITO",
    "RESPONSE_COLORS",
    "FigureFiles",
    "KMGroup",
    "KMPanel",
    "attrition_figure",
    "fallback_survival_stats",
    "forest_figure",
    "km_figure",
    "km_grid_figure",
    "love_figure",
    "propensity_figure",
    "sankey_figure",
    "save_figure",
]

#: Okabe-Ito colour-blind-safe palette.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
GROUP_COLORS: dict[str, str] = {O_RAIT: OKABE_ITO["blue"], M_RAIT: OKABE_ITO["vermillion"]}
#: Colours for up to three groups of a subgroup panel (reference first).
SERIES_COLORS: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
)
RESPONSE_ORDER: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")
RESPONSE_COLORS: dict[str, str] = {
    "CR": OKABE_ITO["bluish_green"],
    "PR": OKABE_ITO["sky_blue"],
    "SD": OKABE_ITO["orange"],
    "PD": OKABE_ITO["vermillion"],
    "NE": OKABE_ITO["grey"],
}
RESPONSE_NAMES: dict[str, str] = {
    "CR": "Complete response",
    "PR": "Partial response",
    "SD": "Stable disease",
    "PD": "Progressive disease",
    "NE": "Not evaluable",
}

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.fonttype": "path",
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}


def finite_or_none(value: Any) -> float | None:
    """A finite float or None (JSON nulls, NaN and strings become None)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------- saving


@dataclass
class FigureFiles:
    """Where one figure was written and its PNG bytes for embedding."""

    name: str
    png: Path
    svg: Path
    png_bytes: bytes
    width_px: int
    height_px: int


def save_figure(fig: Figure, directory: Path, name: str, *, dpi: int = 300, embed_dpi: int = 150) -> FigureFiles:
    """Write ``name.png`` (``dpi``) and ``name.svg`` to ``directory``; return the files and an embeddable PNG.

    The embedded PNG is the publication PNG downsampled to ``embed_dpi`` (Lanczos, Pillow) to keep the
    self-contained HTML small. The figure is closed afterwards.
    """
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    with plt.rc_context(STYLE):
        fig.savefig(png, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    with Image.open(png) as image:
        size = (max(1, round(image.width * embed_dpi / dpi)), max(1, round(image.height * embed_dpi / dpi)))
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=False)
    return FigureFiles(name, png, svg, buffer.getvalue(), size[0], size[1])


def _figure(width: float, height: float) -> Figure:
    return plt.figure(figsize=(width, height))


def _styled(func):
    """Build the figure under the report's matplotlib style (fonts, spines, SVG text as paths)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- Kaplan-Meier


@dataclass
class KMGroup:
    """One curve: the patients of a group (``pfs_months``, ``pfs_event``), its label and colour."""

    key: str
    label: str
    durations: np.ndarray
    events: np.ndarray
    color: str
    risk_label: str = ""


@dataclass
class KMPanel:
    """One Kaplan-Meier panel.

    ``stats`` is a ``results.json`` survival analysis (``logrank_p``, ``hr``, ``hr_ci_low``,
    ``hr_ci_high``, ``groups``) or None; ``hr_label`` names the comparison of the HR
    (e.g. ``"m-RAIT vs o-RAIT"``); ``note`` is printed under the statistics (e.g. where they
    were computed).
    """

    title: str
    groups: list[KMGroup]
    stats: Mapping[str, Any] | None = None
    hr_label: str = ""
    note: str = ""


def _time_ticks(tmax: float) -> np.ndarray:
    """Month ticks: a step of 6, 12, 24, 36 or 60 months giving at most eight intervals."""
    tmax = max(tmax, 1.0)
    step = next((s for s in (6, 12, 24, 36, 60, 120) if tmax / s <= 8), 120)
    return np.arange(0, step * math.ceil(tmax / step) + 0.5, step, dtype=float)


def _stats_text(panel: KMPanel) -> str:
    stats = panel.stats or {}
    lines = []
    p = finite_or_none(stats.get("logrank_p"))
    if p is not None:
        chi2, df = finite_or_none(stats.get("logrank_chi2")), stats.get("logrank_df")
        lines.append(
            f"Log-rank p = {format_p(p)}"
            if chi2 is None
            else f"Log-rank \u03c7\u00b2 = {chi2:.2f}"
            + (f" ({int(df)} df)" if df is not None else "")
            + f", p = {format_p(p)}"
        )
    hr = finite_or_none(stats.get("hr"))
    if hr is not None:
        lo, hi = finite_or_none(stats.get("hr_ci_low")), finite_or_none(stats.get("hr_ci_high"))
        ci = f" (95% CI {lo:.2f}\u2013{hi:.2f})" if lo is not None and hi is not None else " (95% CI undefined)"
        lines.append(f"HR{' ' + panel.hr_label if panel.hr_label else ''} = {hr:.2f}{ci}")
    elif stats and len(panel.groups) == 2:
        reason = stats.get("hr_reason") or stats.get("reason")
        lead = "HR not reported" if reason and "too few" in reason else "HR not estimable"
        lines.append(lead + (f": {reason}" if reason else ""))
    inter = stats.get("interaction")
    if inter:
        p_int = finite_or_none(inter.get("p"))
        if inter.get("skipped"):
            lines.append("Interaction (RAIT group \u00d7 subgroup): not testable")
        elif p_int is not None:
            lines.append(f"Interaction (RAIT group \u00d7 {inter.get('factor')}): LR p = {format_p(p_int)}")
    stated = stats.get("groups") or {}
    five = []
    for g in panel.groups:
        s5 = finite_or_none((stated.get(g.key) or {}).get("pfs_5y"))
        if s5 is not None:
            five.append(f"{g.risk_label or g.label} {100 * s5:.1f}%")
    if five:
        lines.append("5-year PFS: " + ", ".join(five))
    if panel.note:
        lines.append(panel.note)
    return "\n".join(lines)


def _draw_km(fig: Figure, spec, panel: KMPanel, ticks: np.ndarray, title_width: int = 70) -> None:
    from lifelines import KaplanMeierFitter

    n_rows = max(len(panel.groups), 1)
    inner = spec.subgridspec(2, 1, height_ratios=[4.0, 0.3 * n_rows + 0.4], hspace=0.5)
    ax = fig.add_subplot(inner[0])
    ax_risk = fig.add_subplot(inner[1])
    for group in panel.groups:
        if len(group.durations) == 0:
            continue
        kmf = KaplanMeierFitter(alpha=0.05).fit(
            group.durations, group.events, label=f"{group.label} (n = {len(group.durations)})"
        )
        kmf.plot_survival_function(
            ax=ax,
            ci_show=True,
            ci_alpha=0.14,
            show_censors=True,
            color=group.color,
            linewidth=1.6,
            censor_styles={"marker": "|", "ms": 7, "mew": 1.1},
        )
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(0, 1.04)
    ax.set_xticks(ticks)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("Progression-free survival")
    ax.set_xlabel("Months since first RAIT")
    # the statistics in a smaller font than the title: wrap at about 1.5 times its width
    text = "\n".join(textwrap.fill(line, int(title_width * 1.55)) for line in _stats_text(panel).split("\n"))
    n_lines = text.count("\n") + 1 if text else 0
    ax.set_title(textwrap.fill(panel.title, title_width), loc="left", pad=4 + 10 * n_lines)
    if text:
        ax.text(0.0, 1.015, text, transform=ax.transAxes, ha="left", va="bottom", fontsize=7.5, color="#222222")
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if "(n =" in lab]
    if keep:
        ax.legend([h for h, _ in keep], [lab for _, lab in keep], loc="lower left", handlelength=1.6, borderaxespad=0.3)
    # number-at-risk table: patients with pfs_months >= t (still followed, event-free, at t)
    ax_risk.set_xlim(ticks[0], ticks[-1])
    ax_risk.set_ylim(-0.5, n_rows - 0.5)
    ax_risk.set_yticks(range(n_rows))
    ax_risk.set_yticklabels([g.risk_label or g.label for g in reversed(panel.groups)] or [""])
    for tick_label, group in zip(ax_risk.get_yticklabels(), list(reversed(panel.groups))):
        tick_label.set_color(group.color)
        tick_label.set_fontweight("bold")
    for row, group in enumerate(reversed(panel.groups)):
        for t in ticks:
            at_risk = int(np.sum(group.durations >= t))
            ax_risk.text(t, row, str(at_risk), ha="center", va="center", fontsize=7.5, color=group.color)
    ax_risk.set_title("Number at risk", loc="left", fontsize=8, fontweight="normal", pad=2)
    ax_risk.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    ax_risk.tick_params(axis="y", length=0, pad=14)
    for side in ("top", "right", "bottom", "left"):
        ax_risk.spines[side].set_visible(False)


@_styled
def km_figure(panel: KMPanel, *, width: float = 6.4, height: float = 5.0, tmax: float | None = None) -> Figure:
    """One Kaplan-Meier panel (curves, censoring marks, 95% CI bands, numbers at risk, statistics)."""
    fig = _figure(width, height + 0.25 * max(len(panel.groups) - 2, 0))
    longest = tmax or max((float(g.durations.max()) for g in panel.groups if len(g.durations)), default=12.0)
    _draw_km(fig, fig.add_gridspec(1, 1)[0], panel, _time_ticks(longest))
    return fig


@_styled
def km_grid_figure(
    panels: Sequence[KMPanel], *, ncols: int = 3, panel_width: float = 4.6, panel_height: float = 4.4
) -> Figure:
    """Several Kaplan-Meier panels on a grid sharing one time axis (Fig. 4 A-F)."""
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(panel_width * ncols, panel_height * nrows)
    grid = fig.add_gridspec(nrows, ncols, hspace=0.5, wspace=0.45)
    longest = max((float(g.durations.max()) for p in panels for g in p.groups if len(g.durations)), default=12.0)
    ticks = _time_ticks(longest)
    for i, panel in enumerate(panels):
        _draw_km(fig, grid[i // ncols, i % ncols], panel, ticks, title_width=40)
    return fig


def fallback_survival_stats(groups: Sequence[KMGroup]) -> dict[str, Any]:
    """Log-rank test and (two groups) Cox HR for an analysis missing from results.json.

    Computed by `rait_registry.analysis.SurvivalComparison`, the analysis' own settings; the HR
    compares the second group to the first. Returns the keys of a ``results.json`` survival
    analysis, and ``hr_reason`` when there is no HR.
    """
    from ..analysis import SurvivalComparison

    frame = pd.DataFrame(
        {
            "T": np.concatenate([g.durations for g in groups]),
            "E": np.concatenate([g.events for g in groups]),
            "G": np.concatenate([[g.key] * len(g.durations) for g in groups]),
        }
    )
    comp = SurvivalComparison([g.key for g in groups]).fit(frame, duration_col="T", event_col="E", group_col="G")
    result = comp.to_dict()
    out = {k: result[k] for k in ("logrank_chi2", "logrank_df", "logrank_p", "hr", "hr_ci_low", "hr_ci_high")}
    if out["hr"] is None and result["notes"]:
        out["hr_reason"] = result["notes"][-1]
    return out


# --------------------------------------------------------------------------- Sankey


def _band(x0: float, x1: float, y0_top: float, y0_bot: float, y1_top: float, y1_bot: float) -> MplPath:
    """A flow band from (x0, [y0_bot, y0_top]) to (x1, [y1_bot, y1_top]) with cubic Bezier edges."""
    xm = (x0 + x1) / 2
    verts = [
        (x0, y0_top),
        (xm, y0_top),
        (xm, y1_top),
        (x1, y1_top),
        (x1, y1_bot),
        (xm, y1_bot),
        (xm, y0_bot),
        (x0, y0_bot),
        (x0, y0_top),
    ]
    codes = [
        MplPath.MOVETO,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.LINETO,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CLOSEPOLY,
    ]
    return MplPath(verts, codes)


def _node_positions(counts: Mapping[str, int], order: Sequence[str], gap: float) -> dict[str, tuple[float, float]]:
    """Top-to-bottom stacking: {category: (top, bottom)} for the categories with a count."""
    positions, y = {}, 0.0
    for cat in order:
        n = counts.get(cat, 0)
        if n <= 0:
            continue
        positions[cat] = (-y, -(y + n))
        y += n + gap
    return positions


def _draw_alluvial(ax, flows: pd.DataFrame, left_title: str, right_title: str, title: str) -> None:
    """flows: first (index) x last (columns) counts."""
    order = [c for c in RESPONSE_ORDER if c in flows.index or c in flows.columns]
    flows = flows.reindex(index=order, columns=order, fill_value=0)
    total = int(flows.to_numpy().sum())
    gap = max(total * 0.035, 0.6)
    left = _node_positions(flows.sum(axis=1).to_dict(), order, gap)
    right = _node_positions(flows.sum(axis=0).to_dict(), order, gap)
    width, x_left, x_right = 0.07, 0.0, 1.0
    out_offset = {cat: top for cat, (top, _) in left.items()}
    in_offset = {cat: top for cat, (top, _) in right.items()}
    for src in order:  # flows leave each source in target order
        for dst in order:  # and enter each target in source order (no crossings inside a node)
            n = int(flows.loc[src, dst])
            if n <= 0:
                continue
            y0_top, y1_top = out_offset[src], in_offset[dst]
            path = _band(x_left + width, x_right, y0_top, y0_top - n, y1_top, y1_top - n)
            ax.add_patch(PathPatch(path, facecolor=RESPONSE_COLORS[src], alpha=0.42, edgecolor="none"))
            out_offset[src] -= n
            in_offset[dst] -= n
    for positions, x, align, dx in ((left, x_left, "right", -0.03), (right, x_right + width, "left", 0.03)):
        column_total = sum(top - bottom for top, bottom in positions.values())
        for cat, (top, bottom) in positions.items():
            ax.add_patch(
                Rectangle(
                    (x if x == x_left else x_right, bottom),
                    width,
                    top - bottom,
                    facecolor=RESPONSE_COLORS[cat],
                    edgecolor="white",
                    lw=0.8,
                )
            )
            n = top - bottom
            ax.text(
                x + dx,
                (top + bottom) / 2,
                f"{cat}  {int(n)} ({100 * n / column_total:.1f}%)",
                ha=align,
                va="center",
                fontsize=8,
            )
    depth = max([-b for _, b in left.values()] + [-b for _, b in right.values()] + [1])
    ax.text(x_left + width / 2, gap * 0.6, left_title, ha="center", va="bottom", fontsize=8.5, fontweight="bold")
    ax.text(x_right + width / 2, gap * 0.6, right_title, ha="center", va="bottom", fontsize=8.5, fontweight="bold")
    ax.set_xlim(-0.55, 1.62)
    ax.set_ylim(-depth - gap * 0.5, gap * 3.2)
    ax.set_title(title)
    ax.axis("off")


@_styled
def sankey_figure(cohort: pd.DataFrame) -> Figure:
    """Fig. 2: first -> last RAIT response (CR/PR/SD/PD/NE) per group, as an alluvial diagram.

    For o-RAIT the first and last response are the same administration (docs/specification.md section 2),
    so its flows are horizontal; the right-hand column is its status under surveillance
    after the single RAIT as the study draws it. A missing response is drawn as NE.
    """
    fig = _figure(10.5, 5.4)
    axes = fig.subplots(1, 2)
    for ax, group in zip(axes, RAIT_GROUPS):
        sub = cohort[cohort["rait_group"] == group]
        first = sub["first_response"].fillna("NE").astype(str)
        last = sub["last_response"].fillna("NE").astype(str)
        flows = pd.crosstab(first, last) if len(sub) else pd.DataFrame()
        right = "Last RAIT" if group == M_RAIT else "Only RAIT\n(surveillance)"
        _draw_alluvial(ax, flows, "First RAIT", right, f"{group} (n = {len(sub)})")
    handles = [Rectangle((0, 0), 1, 1, color=RESPONSE_COLORS[c]) for c in RESPONSE_ORDER]
    fig.legend(
        handles,
        [f"{c}: {RESPONSE_NAMES[c]}" for c in RESPONSE_ORDER],
        loc="lower center",
        ncol=5,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, -0.01),
    )
    fig.subplots_adjust(bottom=0.1, wspace=0.15)
    return fig


# --------------------------------------------------------------------------- forest plot


@_styled
def forest_figure(
    rows: Sequence[Mapping[str, Any]],
    multivariable: Sequence[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
    title: str = "Odds ratio of progression",
) -> Figure:
    """Table 3 as a forest plot: univariable and multivariable OR with 95% CI on a log scale.

    ``rows``/``multivariable`` are ``results.json`` ``logistic.univariable``/``multivariable``
    rows (``term, or, ci_low, ci_high, p_value`` and, when present, ``variable, level,
    reference, method``). Firth estimates (``method == "firth"``) are drawn with open
    markers; an OR or a CI bound that is null is written "not estimable"; a bound beyond
    the axis is drawn as an arrow.
    """
    labels = dict(labels or {})
    multi = {str(r.get("term")): r for r in multivariable}
    terms = [r for r in rows if r.get("term") is not None]
    n = len(terms)
    fig = _figure(11.0, 1.2 + 0.34 * max(n, 1))
    grid = fig.add_gridspec(1, 2, wspace=0.95)
    ax_u, ax_m = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    values = [finite_or_none(r.get(k)) for r in list(terms) + list(multi.values()) for k in ("or", "ci_low", "ci_high")]
    finite = [v for v in values if v is not None and v > 0]
    lo = max(min(finite + [0.5]) / 1.4, 1e-2)
    hi = min(max(finite + [2.0]) * 1.4, 1e2)
    ys = np.arange(n)[::-1]
    for ax, source, name, color in (
        (ax_u, {str(r["term"]): r for r in terms}, "Univariable", OKABE_ITO["blue"]),
        (ax_m, multi, "Multivariable", OKABE_ITO["vermillion"]),
    ):
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(-0.8, n - 0.2)
        ax.axvline(1.0, color="#555555", lw=0.8, ls="--")
        for y, row in zip(ys, terms):
            r = source.get(str(row["term"]))
            text = ""
            if r is None:
                text = "not in model" if ax is ax_m else ""
            else:
                est, cl, ch = (
                    finite_or_none(r.get("or")),
                    finite_or_none(r.get("ci_low")),
                    finite_or_none(r.get("ci_high")),
                )
                firth = str(r.get("method") or "") == "firth"
                if est is None or est <= 0:
                    text = "not estimable"
                else:
                    left = max(cl, lo) if cl is not None else lo
                    right = min(ch, hi) if ch is not None else hi
                    ax.plot([left, right], [y, y], color=color, lw=1.4, solid_capstyle="butt")
                    if cl is None or cl < lo:
                        ax.plot(lo, y, marker="<", color=color, ms=5)
                    if ch is None or ch > hi:
                        ax.plot(hi, y, marker=">", color=color, ms=5)
                    ax.plot(
                        min(max(est, lo), hi),
                        y,
                        marker="s" if ax is ax_m else "o",
                        ms=6,
                        mfc="white" if firth else color,
                        mec=color,
                        mew=1.4,
                    )
                    ci = f"{cl:.3f}\u2013{ch:.3f}" if cl is not None and ch is not None else "CI undefined"
                    p_text = format_p(finite_or_none(r.get("p_value")))
                    p_text = p_text if p_text.startswith("<") else f"= {p_text}"
                    text = f"{est:.3f} ({ci})  p {p_text}" + (" \u2020" if firth else "")
            ax.annotate(text, xy=(1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=7.5)
        ax.set_yticks(ys)
        ax.set_yticklabels([_term_label(r, labels) for r in terms] if ax is ax_u else [])
        ax.set_title(name, loc="left")
        ax.set_xlabel("Odds ratio (log scale)")
        ax.grid(axis="x", which="major", color="#eeeeee", lw=0.6)
        ax.tick_params(axis="y", length=0)
        ax.annotate(
            "OR (95% CI)  p",
            xy=(1.02, n - 0.3),
            xycoords=("axes fraction", "data"),
            fontsize=7.5,
            fontweight="bold",
            va="bottom",
        )
    fig.suptitle(title, x=0.02, ha="left", fontsize=10, fontweight="bold")
    fig.text(
        0.02,
        -0.02,
        "Filled markers: maximum likelihood; open markers (\u2020): Firth penalised likelihood "
        "(separation). Arrows: the interval extends beyond the axis.",
        fontsize=7,
        color="#444444",
    )
    return fig


def _symbols(text: str) -> str:
    return text.replace(">=", "\u2265 ").replace("<=", "\u2264 ").replace("<", "< ").replace("  ", " ").strip()


def _term_label(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    variable, level, ref = row.get("variable"), row.get("level"), row.get("reference")
    base = labels.get(str(variable), str(variable or row.get("term")).replace("_", " "))
    if level is None:
        return base
    level_text = labels.get(f"{variable}={level}", _symbols(str(level).replace("_", " ")))
    if ref is None:
        return f"{base} ({level_text})"
    ref_text = labels.get(f"{variable}={ref}", _symbols(str(ref).replace("_", " ")))
    return f"{base}: {level_text} vs {ref_text}"


# --------------------------------------------------------------------------- matching


@_styled
def love_figure(
    balance: Sequence[Mapping[str, Any]], labels: Mapping[str, str] | None = None, threshold: float = 0.1
) -> Figure:
    """Love plot: absolute standardised mean difference per covariate before and after matching."""
    labels = dict(labels or {})
    rows = [r for r in balance if r.get("covariate") is not None]
    fig = _figure(6.4, 1.3 + 0.38 * max(len(rows), 1))
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    for y, r in zip(ys, rows):
        before, after = finite_or_none(r.get("smd_before")), finite_or_none(r.get("smd_after"))
        pts = [abs(v) for v in (before, after) if v is not None]
        if len(pts) == 2:
            ax.plot(pts, [y, y], color="#bbbbbb", lw=1, zorder=1)
        if before is not None:
            ax.plot(abs(before), y, "o", ms=7, mfc="white", mec=OKABE_ITO["vermillion"], mew=1.5, zorder=2)
        if after is not None:
            ax.plot(abs(after), y, "o", ms=7, color=OKABE_ITO["blue"], zorder=3)
    ax.axvline(threshold, color="#555555", ls="--", lw=0.8)
    ax.axvline(0, color="#555555", lw=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels([labels.get(str(r["covariate"]), str(r["covariate"]).replace("_", " ")) for r in rows])
    ax.set_xlabel("Absolute standardised mean difference")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    xmax = max([abs(finite_or_none(r.get(k)) or 0) for r in rows for k in ("smd_before", "smd_after")] + [threshold])
    ax.set_xlim(-0.02, xmax * 1.15 + 0.02)
    ax.plot([], [], "o", mfc="white", mec=OKABE_ITO["vermillion"], mew=1.5, label="Before matching")
    ax.plot([], [], "o", color=OKABE_ITO["blue"], label="After matching")
    ax.legend(loc="lower right")
    ax.set_title("Covariate balance (Love plot)", loc="left")
    ax.text(threshold, len(rows) - 0.35, f" {threshold:g}", fontsize=7, color="#555555", va="bottom")
    return fig


@_styled
def propensity_figure(propensity: pd.DataFrame, matched_ids: Iterable[str], focal_group: str = O_RAIT) -> Figure:
    """Propensity-score distributions by group, before and after matching (mirrored histograms).

    ``propensity`` has columns ``patient_id``, ``rait_group`` and ``propensity`` (the
    estimated probability of ``focal_group`` given the matching covariates).
    """
    matched = set(matched_ids)
    fig = _figure(9.6, 3.8)
    axes = fig.subplots(1, 2, sharey=True)
    bins = np.linspace(0, 1, 21)
    peak = 1
    for ax, (title, frame) in zip(
        axes, (("Before matching", propensity), ("After matching", propensity[propensity["patient_id"].isin(matched)]))
    ):
        for sign, group in ((1, O_RAIT), (-1, M_RAIT)):
            values = frame.loc[frame["rait_group"] == group, "propensity"].dropna().to_numpy(dtype=float)
            counts, edges = np.histogram(values, bins=bins)
            peak = max(peak, int(counts.max(initial=0)))
            ax.bar(
                edges[:-1],
                sign * counts,
                width=np.diff(edges),
                align="edge",
                color=GROUP_COLORS[group],
                alpha=0.8,
                edgecolor="white",
                lw=0.5,
                label=f"{group} (n = {len(values)})",
            )
        ax.axhline(0, color="#333333", lw=0.7)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"Propensity score, P({focal_group} | covariates)")
        ax.set_title(title, loc="left")
        ax.legend(loc="upper right", ncol=2, fontsize=7.5)
    axes[0].set_ylim(-peak * 1.15, peak * 1.45)
    axes[0].set_ylabel("Patients (o-RAIT up, m-RAIT down)")
    axes[0].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0].yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{abs(int(round(v)))}"))
    return fig


# --------------------------------------------------------------------------- attrition


def _box(
    ax,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str,
    *,
    fc: str = "white",
    ec: str = "#333333",
    weight: str = "normal",
    wrap: int = 38,
    size: float = 9.0,
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.006,rounding_size=0.012", fc=fc, ec=ec, lw=0.9
        )
    )
    wrapped = "\n".join(textwrap.fill(part, wrap) for part in text.split("\n"))
    ax.text(x, y, wrapped, ha="center", va="center", fontsize=size, fontweight=weight)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, lw=0.9, color="#333333", shrinkA=0, shrinkB=0)
    )


@_styled
def attrition_figure(
    attrition: pd.DataFrame,
    criterion_labels: Mapping[str, str],
    groups: Mapping[str, int] | None = None,
    matching: Mapping[str, Any] | None = None,
) -> Figure:
    """Fig. 1: CONSORT-style flow from all patients through the six criteria to the matched cohort.

    Parameters
    ----------
    attrition : DataFrame
        ``marts.cohort_attrition`` (``step, criterion, n_remaining, n_excluded``); a step-0
        row (all patients) is used when present, else the total is step 1's remaining plus
        its exclusions.
    criterion_labels : mapping
        Criterion column name -> the reason shown in its exclusion box.
    groups : mapping, optional
        ``{"o-RAIT": n, "m-RAIT": n}`` of the analysis cohort.
    matching : mapping, optional
        ``{"n_pairs", "unmatched": {"o-RAIT": n, "m-RAIT": n}}``.
    """
    frame = attrition.sort_values("step").reset_index(drop=True)
    if len(frame) and int(frame["step"].iloc[0]) == 0:
        total = int(frame["n_remaining"].iloc[0])
        steps = frame[frame["step"] > 0]
    else:
        total = int(frame["n_remaining"].iloc[0] + frame["n_excluded"].iloc[0]) if len(frame) else 0
        steps = frame
    n_steps = len(steps)
    rows = 2 + n_steps + (1 if groups else 0) + (1 if matching else 0)
    fig = _figure(8.6, 0.9 * rows + 0.6)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, rows)
    ax.axis("off")
    xc, xs, bw, sw, bh = 0.3, 0.76, 0.42, 0.44, 0.6
    y = rows - 0.6
    _box(ax, xc, y, bw, bh, f"Patients in the registry extract\nn = {total}", weight="bold", fc="#f2f2f2")
    top = y - bh / 2
    for _, step in steps.iterrows():
        y -= 1
        label = criterion_labels.get(str(step["criterion"]), str(step["criterion"]).replace("_", " "))
        _box(
            ax,
            xs,
            y,
            sw,
            bh * 1.15,
            f"Excluded at step {int(step['step'])} (n = {int(step['n_excluded'])}):\n{label}",
            wrap=54,
            size=8.2,
            fc="#fff7e6",
            ec=OKABE_ITO["orange"],
        )
        ax.plot([xc, xs - sw / 2], [y, y], color="#333333", lw=0.9)
        _arrow(ax, (xs - sw / 2 - 0.03, y), (xs - sw / 2, y))
    y -= 1
    n_cohort = int(steps["n_remaining"].iloc[-1]) if n_steps else total
    _arrow(ax, (xc, top), (xc, y + bh / 2))
    _box(
        ax,
        xc,
        y,
        bw,
        bh,
        f"Eligible: RAI-avid pulmonary micrometastatic DTC\nn = {n_cohort}",
        weight="bold",
        fc="#e8f1f8",
        ec=OKABE_ITO["blue"],
    )
    if groups:
        y_prev, y = y, y - 1
        for x, group in ((xc - bw / 4 - 0.02, O_RAIT), (xc + bw / 4 + 0.02, M_RAIT)):
            _arrow(ax, (xc, y_prev - bh / 2), (x, y + bh / 2))
            _box(
                ax,
                x,
                y,
                bw / 2 - 0.01,
                bh,
                f"{group}\nn = {int(groups.get(group, 0))}",
                fc="white",
                ec=GROUP_COLORS[group],
                weight="bold",
            )
        if matching:
            unmatched = matching.get("unmatched") or {}
            y_prev, y = y, y - 1
            for x in (xc - bw / 4 - 0.02, xc + bw / 4 + 0.02):
                _arrow(ax, (x, y_prev - bh / 2), (xc, y + bh / 2))
            n_pairs = int(matching.get("n_pairs") or 0)
            _box(
                ax,
                xc,
                y,
                bw,
                bh,
                f"Propensity-score matched 1:1\n{n_pairs} pairs (n = {2 * n_pairs})",
                weight="bold",
                fc="#e6f5ef",
                ec=OKABE_ITO["bluish_green"],
            )
            lost = ", ".join(f"{g} {int(unmatched.get(g, 0))}" for g in RAIT_GROUPS)
            _box(
                ax,
                xs,
                y,
                sw,
                bh,
                f"Not matched (no partner within the caliper):\n{lost}",
                wrap=58,
                size=8.2,
                fc="#fff7e6",
                ec=OKABE_ITO["orange"],
            )
            ax.plot([xc + bw / 2, xs - sw / 2], [y, y], color="#333333", lw=0.9, ls=":")
    return fig
