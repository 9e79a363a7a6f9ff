"""Cumulative activity and progression (results.json ``dose_response``).

Cox models of PFS on cumulative GBq as a natural cubic spline (formulaic ``cr``, knots at
quantiles, linear beyond the boundary knots; the same function space as R ``ns``), reported as
the HR curve relative to a reference dose with a likelihood-ratio test of non-linearity. The
mart's ``cumulative_gbq`` is the total over *all* cycles, which is only known at the end of
follow-up (immortal time again, and some cycles follow progression), so a time-varying version
uses the cumulative dose received up to each time (`counting_process`): each administration after
the first counts from the same exposure lag as the time-varying Cox model (the refresh's
``rxwbs_window_days``), because its post-therapy scan evaluates the cycles before it.

References
----------
Durrleman S, Simon R (1989). Flexible regression models with cubic splines. *Stat Med* 8:551-561.
Wood SN (2017). *Generalized Additive Models*, 2nd ed. (cubic regression splines, ``cr``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from formulaic.transforms.cubic_spline import cubic_spline
from scipy.stats import chi2, norm

from .. import wording
from ..config import DEFAULTS
from ..cox import fit_cox, fit_cox_time_varying, wald_term
from .data import covariate_matrix
from .results import SectionResult, is_set
from .sentences import fmt, fmt_p, level

__all__ = ["dose_response_analysis", "spline_basis", "spline_knots"]


def spline_knots(values: np.ndarray, all_values: np.ndarray, df: int) -> tuple[dict, int, str | None]:
    """Knots of the natural spline: interior at the quantiles k/df of ``values`` (type 7, as R),
    boundary at the range of ``all_values``. Duplicate interior knots (heaped doses) are dropped."""
    v = np.asarray(values, dtype=float)
    a = np.asarray(all_values, dtype=float)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (math.nan, math.nan)
    note = None
    if df < 2 or v.size == 0:
        return {"interior": [], "boundary": [lo, hi]}, max(1, min(df, 1)), None
    q = np.quantile(v, np.arange(1, df) / df)
    inner = sorted({float(k) for k in q if lo < k < hi})
    if len(inner) < df - 1:
        note = f"only {len(inner)} distinct interior knot(s) inside the dose range (heaped values): spline df {len(inner) + 1}"
    return {"interior": inner, "boundary": [lo, hi]}, len(inner) + 1, note


def spline_basis(x: np.ndarray, knots: dict, ref: float) -> pd.DataFrame:
    """Natural cubic regression spline basis (formulaic ``cr``), constrained to 0 at ``ref``.

    The constraint ``f(ref) = 0`` removes the constant (a Cox model has none) without depending
    on the data, so the HR at dose d relative to ``ref`` is ``exp(B(d) beta)``. Linear beyond
    the boundary knots.
    """
    kw = {"knots": knots["interior"], "lower_bound": knots["boundary"][0], "upper_bound": knots["boundary"][1]}
    at_ref = cubic_spline(np.array([float(ref)]), constraints=None, _state={}, **kw)
    C = np.column_stack([np.asarray(v, dtype=float) for v in at_ref.values()])
    vals = cubic_spline(np.asarray(x, dtype=float), constraints=C, _state={}, **kw)
    return pd.DataFrame({f"gbq_s{i}": np.asarray(v, dtype=float) for i, v in enumerate(vals.values(), start=1)})


def dose_response_analysis(
    cohort: pd.DataFrame,
    cp: pd.DataFrame,
    *,
    exposure_lag_days: int | None = None,
    reference_gbq: float,
    spline_df: int,
    grid_points: int,
    adjust_covariates: Sequence[str] = (),
    alpha: float = DEFAULTS.alpha,
) -> SectionResult:
    """The results.json ``dose_response`` section: time-fixed and time-varying cumulative activity.

    Parameters
    ----------
    cohort : DataFrame
        The cohort (``cumulative_gbq``: the total over all cycles; adjustment covariates).
    cp : DataFrame
        Its `counting_process` rows (``cumulative_gbq``: the activity counted so far).
    exposure_lag_days : int, optional
        The exposure lag ``cp`` was built with (reported; None: not stated).
    reference_gbq : float
        Reference of the HR curve.
    spline_df : int
        Degrees of freedom of the natural spline (1: linear only).
    grid_points : int
        Points of the curve between the 5th and 95th percentile of the total activity.
    adjust_covariates : sequence of str
    alpha : float

    Returns
    -------
    SectionResult
        Table ``dose_response_curve``; fitted models by name (``time_fixed_linear``,
        ``time_fixed_spline``, ``time_varying_linear``, ``time_varying_spline``).
    """
    ref = float(reference_gbq)
    notes: list[str] = []
    adj = list(adjust_covariates)
    X, complete = covariate_matrix(cohort, adj)
    keep = complete & cohort["cumulative_gbq"].notna().to_numpy()
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} patient(s) with a missing covariate or cumulative_gbq left out")
    data = cohort.loc[keep].reset_index(drop=True)
    Xk = X.loc[cohort.index[keep]].reset_index(drop=True) if len(X.columns) else pd.DataFrame(index=data.index)
    cp = cp.loc[cp["patient_id"].isin(set(data["patient_id"].astype(str)))]
    dose = data["cumulative_gbq"].to_numpy(dtype=float)
    knots, df_eff, knot_note = spline_knots(
        dose, np.concatenate([dose, cp["cumulative_gbq"].to_numpy(dtype=float)]), spline_df
    )
    if knot_note:
        notes.append(knot_note)
    grid = (
        np.unique(np.concatenate([np.linspace(*np.quantile(dose, [0.05, 0.95]), grid_points), [ref]]))
        if dose.size
        else np.array([ref])
    )
    models: dict[str, Any] = {}
    curves = []
    tf = _dose_model(
        "time_fixed",
        data.assign(**{c: Xk[c].to_numpy() for c in Xk.columns}),
        None,
        list(Xk.columns),
        knots,
        df_eff,
        ref,
        grid,
        curves,
        models,
        alpha,
    )
    Xtv = Xk.assign(patient_id=data["patient_id"].astype(str).to_numpy())
    tvd = cp.merge(Xtv, on="patient_id", how="inner")
    tv = _dose_model("time_varying", None, tvd, list(Xk.columns), knots, df_eff, ref, grid, curves, models, alpha)
    tf["biases"], tv["biases"] = ["total_activity"], []
    parts = []
    lag_words = (
        "" if exposure_lag_days is None else f", each administration counted from {exposure_lag_days} days after it"
    )
    for label, res, biases in (
        ("Time-fixed total activity", tf, ("total_activity",)),
        (f"Time-varying cumulative activity (received so far{lag_words})", tv, ()),
    ):
        nl = res["nonlinearity"]
        lin = res["linear"]
        if is_set(lin.get("hr_per_gbq")):
            s = (
                f"{label}: HR per GBq {fmt(lin['hr_per_gbq'])} ({level(alpha)} CI {fmt(lin['ci_low'])} to "
                f"{fmt(lin['ci_high'])}; "
                + ("includes 1" if lin["ci_low"] <= 1 <= lin["ci_high"] else "excludes 1")
                + ")"
            )
            if is_set(nl.get("p")):
                s += f", non-linearity p = {fmt_p(nl['p'])}"
            parts.append(s + wording.bias_clause(biases) + ".")
    if not parts:
        parts.append("No dose-response model could be estimated (see notes).")
    parts.append("Both are associations confounded by indication (more cycles for persistent disease).")
    section = {
        "exposure": "cumulative administered activity (GBq)",
        "exposure_lag_days": exposure_lag_days,
        "reference_gbq": ref,
        "spline": {
            "type": "natural cubic regression spline (formulaic cr; same function space as R splines::ns)",
            "df": df_eff,
            "interior_knots": knots["interior"],
            "boundary_knots": knots["boundary"],
            "knot_rule": "interior knots at the quantiles k/df of the patients' total cumulative activity; "
            "boundary knots at the range of all activity values used",
        },
        "adjusted_for": adj,
        "time_fixed": tf,
        "time_varying": tv,
        "notes": notes,
        "interpretation": " ".join(parts),
    }
    return SectionResult(
        "dose_response",
        section,
        {"dose_response_curve": pd.DataFrame(curves)},
        fitted=models,
        main_table="dose_response_curve",
    )


def _dose_model(
    name: str,
    fixed: pd.DataFrame | None,
    tv: pd.DataFrame | None,
    adj_cols: list[str],
    knots: dict,
    df_eff: int,
    ref: float,
    grid: np.ndarray,
    curves: list,
    models: dict[str, Any],
    alpha: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": None,
        "events": None,
        "linear": {"hr_per_gbq": None, "ci_low": None, "ci_high": None, "p": None},
        "nonlinearity": {"chi2": None, "df": None, "p": None, "test": "likelihood ratio, spline vs linear"},
        "overall": {"chi2": None, "df": None, "p": None, "test": "likelihood ratio, spline vs no dose term"},
        "curve": [],
        "notes": [],
    }
    if fixed is not None:
        base = pd.DataFrame(
            {"T": fixed["pfs_months"].to_numpy(dtype=float), "E": fixed["pfs_event"].to_numpy(dtype=float)}
        )
        x = fixed["cumulative_gbq"].to_numpy(dtype=float)
        for c in adj_cols:
            base[c] = fixed[c].to_numpy(dtype=float)
        out["n"], out["events"] = len(base), int(base["E"].sum())

        def fit(cols: pd.DataFrame) -> tuple[Any, str | None]:
            return fit_cox(pd.concat([base, cols], axis=1), "T", "E", alpha=alpha)
    else:
        base = tv[["patient_id", "start", "stop", "event", *adj_cols]].reset_index(drop=True)
        x = tv["cumulative_gbq"].to_numpy(dtype=float)
        out["n"], out["events"] = int(base["patient_id"].nunique()), int(base["event"].sum())

        def fit(cols: pd.DataFrame) -> tuple[Any, str | None]:
            return fit_cox_time_varying(pd.concat([base, cols.reset_index(drop=True)], axis=1), alpha=alpha)

    if out["events"] == 0 or np.unique(x).size < 2:
        out["notes"].append("no events or no variation in dose: no model")
        return out
    lin, note = fit(pd.DataFrame({"gbq": x}))
    models[f"{name}_linear"] = lin
    if lin is None:
        out["notes"].append(f"linear model: {note}")
    else:
        t = wald_term(lin, "gbq", alpha)
        out["linear"] = {"hr_per_gbq": t["hr"], "ci_low": t["ci_low"], "ci_high": t["ci_high"], "p": t["p"]}
    sp = None
    if df_eff < 2:
        out["notes"].append("spline df < 2: linear model only")
    else:
        B = spline_basis(x, knots, ref)
        sp, note = fit(B)
        models[f"{name}_spline"] = sp
        if sp is None:
            out["notes"].append(f"spline model: {note}")
    full = sp if sp is not None else lin
    if full is None:
        return out
    ll0 = _null_ll(base, adj_cols, fit, full)
    if ll0 is not None:
        stat = 2 * (full.log_likelihood_ - ll0)
        k = df_eff if sp is not None else 1
        out["overall"].update(chi2=stat, df=k, p=float(chi2.sf(max(stat, 0.0), k)))
    if sp is None:
        return out
    if lin is not None:
        stat = 2 * (sp.log_likelihood_ - lin.log_likelihood_)
        out["nonlinearity"].update(chi2=stat, df=df_eff - 1, p=float(chi2.sf(max(stat, 0.0), df_eff - 1)))
    cols = list(B.columns)
    beta = sp.params_[cols].to_numpy(dtype=float)
    pos = [list(sp.params_.index).index(c) for c in cols]
    V = np.asarray(sp.variance_matrix_, dtype=float)[np.ix_(pos, pos)]
    D = spline_basis(grid, knots, ref).to_numpy(dtype=float) - spline_basis(np.array([ref]), knots, ref).to_numpy(
        dtype=float
    )
    lp = D @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", D, V, D))
    z = norm.ppf(1 - alpha / 2)
    for g, lin, s in zip(grid, lp, se, strict=True):
        pt = {
            "gbq": float(g),
            "hr": math.exp(lin),
            "ci_low": math.exp(lin - z * s),
            "ci_high": math.exp(lin + z * s),
        }
        out["curve"].append(pt)
        curves.append({"model": name, **pt})
    k = len(sp.params_)
    if out["events"] < 10 * k:
        out["notes"].append(
            f"{out['events']} events for {k} parameters (fewer than 10 per parameter): the curve is imprecise"
        )
    return out


def _null_ll(base: pd.DataFrame, adj_cols: list[str], fit: Any, model: Any) -> float | None:
    """Partial log-likelihood without the dose term: the adjustment-only model, or (no
    adjustment) the likelihood at beta = 0 that lifelines' likelihood-ratio test uses."""
    if adj_cols:
        m, _ = fit(pd.DataFrame(index=base.index))
        return None if m is None else float(m.log_likelihood_)
    test = model.log_likelihood_ratio_test()
    return float(model.log_likelihood_ - test.test_statistic / 2.0)
