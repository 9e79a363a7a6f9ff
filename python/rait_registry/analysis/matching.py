"""Propensity-score matching of o-RAIT to m-RAIT patients (docs/specification.md section 4, ``matching``).

The study (Shi et al., *Eur J Nucl Med Mol Imaging* 2025) balanced the risk factors for progression
(age at diagnosis, local persistent disease before RAIT) and follow-up time between the groups
with 1:1 propensity-score matching and a caliper of 0.05. This module reproduces what R's
MatchIt (>= 4.5.4) does for

.. code-block:: r

    matchit(focal ~ age_at_diagnosis_years + local_persistent_disease + follow_up_months,
            method = "nearest", distance = "glm", m.order = "largest",
            caliper = 0.05, std.caliper = FALSE)

with o-RAIT as the focal ("treated") group:

1. **Propensity score.** Probability of being o-RAIT from a logistic regression on the
   covariates (statsmodels ``Logit``, Newton-Raphson to a tight tolerance, so that the
   estimates agree with R ``glm`` to about 1e-9). The linear predictor is accumulated column by
   column, so patients with identical covariates get bit-identical scores (exact ties stay ties).
2. **Greedy 1:1 nearest-neighbour matching without replacement**, MatchIt's kernel
   (``nn_matchC_vec`` / ``find_control_vec``) rule for rule. Focal units are taken in descending
   propensity (``order="largest"``; R's stable ``order(distance, decreasing = TRUE)``, ties in
   data order); the cohort is sorted by ``patient_id`` first, so data order is byte order.
   All units are sorted by score (ties in data order); from the focal unit's place the search
   steps outward, alternately below and above, and on each side stops at the first unused
   control it meets:

   * a control farther than the caliper (``|p_focal - p_control| > caliper``, computed in IEEE
     double arithmetic exactly as MatchIt does) is not eligible; a focal unit without an
     eligible control stays unmatched;
   * the nearer of the two side candidates is taken; at an exact distance tie the one the
     alternating scan meets first (below first, so the lower one unless it is more places away);
   * so among controls of *equal* propensity the one taken below the focal unit is the last in
     data order and above it the first -- not the smallest ``patient_id``, a rule this module
     followed until 2026-12 and which gave 12 of 113 pairs different from MatchIt on MatchIt's
     ``lalonde`` data (identical covariate patterns).

   The reference pairs in ``tests/data/r_reference`` come from MatchIt 4.7.2 itself
   (``tests/r/stats2_references.R``, ``tests/r/matchit_lalonde.R``); Debian's MatchIt 4.5.1
   ignores the caliper on this path and is not used.
3. **Balance.** Standardised mean differences before and after matching, as MatchIt's
   ``summary.matchit`` computes them for the ATT (``s.d.denom = "treated"``)::

       SMD = (mean_focal - mean_control) / s_focal

   with ``s_focal`` the standard deviation of the covariate among *all* focal units before
   matching (sample SD with n - 1 for a continuous covariate; ``sqrt(p (1 - p))`` for a 0/1
   covariate), the same denominator before and after matching. After matching the means are
   over matched units. As in MatchIt, a mean difference below ``sqrt(machine eps)`` is reported
   unstandardised and a focal SD below ``sqrt(eps)`` falls back to the pooled SD.

The matcher runs in O(n log n): all units are sorted once; two union-find structures over the
controls in that order skip used ones, so each focal unit finds the first unused control on
either side in near-constant time. No pairwise distance matrix is ever formed.

References
----------
Ho DE, Imai K, King G, Stuart EA (2011). MatchIt: nonparametric preprocessing for parametric
causal inference. *J Stat Softw* 42(8). https://doi.org/10.18637/jss.v042.i08
Austin PC (2011). An introduction to propensity score methods for reducing the effects of
confounding in observational studies. *Multivariate Behav Res* 46:399-424.
Stuart EA (2010). Matching methods for causal inference: a review and a look forward.
*Stat Sci* 25:1-21.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from rait_registry.contract import M_RAIT, O_RAIT
from rait_registry.exceptions import MatchingError, StatisticsWarning

from .config import DEFAULTS
from .missing import dropped_message, missing_code_counts, missing_code_mask
from .tables import TABLE1_CHARACTERISTICS, Characteristic

#: Default matching covariates: the study's risk factors for progression plus follow-up time
#: (the declared default of ``matching_covariates``).
DEFAULT_COVARIATES: tuple[str, ...] = DEFAULTS.matching_covariates

#: Named covariates derived from a cohort column: name -> "column==value" indicator.
DERIVED_COVARIATES: dict[str, str] = {
    "local_persistent_disease": "local_disease_status==local_persistent",
}

_SQRT_EPS = math.sqrt(np.finfo(float).eps)
_CALIPER_SCALES = ("propensity", "logit_sd")
_ORDERS = ("largest", "random")


# ---------------------------------------------------------------------------------------------
# The matcher (stateless)
# ---------------------------------------------------------------------------------------------


def _byte_order(ids: Sequence[str]) -> np.ndarray:
    """Positions that sort ``ids`` in byte order (UTF-8 byte order equals code-point order)."""
    return np.argsort(np.asarray([str(i) for i in ids], dtype=str), kind="stable")


def nearest_neighbor_pairs(
    scores: np.ndarray,
    is_focal: np.ndarray,
    caliper: float | None,
    focal_order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy 1:1 nearest-neighbour matching without replacement on a scalar score, as MatchIt.

    Parameters
    ----------
    scores : ndarray of float
        Score (propensity or its logit) of every unit, in data order. Must be finite.
    is_focal : ndarray of bool
        True for focal units, False for controls.
    caliper : float or None
        Maximal admissible ``|focal - control|``; ``None`` means no caliper.
    focal_order : ndarray of int
        Positions (into ``scores``) of the focal units in the order they choose.

    Returns
    -------
    focal_index, control_index : ndarray of int
        Positions of the matched pairs, in the order they were formed.

    Notes
    -----
    The rule of MatchIt's kernel (``nn_matchC_vec`` / ``find_control_vec``, MatchIt 4.5.4 to
    4.7.x, ``ratio = 1``, ``replace = FALSE``): all units are sorted by score with a stable sort
    (ties in data order). From the focal unit's place in that order the scan steps outward, one
    place at a time, alternately below and above (below first), and on each side stops at the
    first still unmatched control it meets. That control is the side's candidate if it lies
    within the caliper (``|focal - control| <= caliper`` in IEEE double arithmetic). The nearer
    candidate is taken; at an exact distance tie the one met first in the alternating scan,
    i.e. the lower one unless it lies more places away than the upper one (every unit counts
    as a place, focal units and used controls included). Consequences: among controls of
    equal score the one taken below the focal unit is the *last* in data order, above it the
    *first*; and of distinct scores whose distances round to the same double only the nearer
    in sort order is ever looked at.

    The search is O(n log n) overall: one sort, then for each focal unit the nearest unused
    control on either side in the sort order through two union-find structures; no pairwise
    distance is formed. It is hand-written because neither statsmodels nor scipy provides
    greedy caliper matching.
    """
    scores = np.asarray(scores, dtype=float)
    is_focal = np.asarray(is_focal, dtype=bool)
    focal_order = np.asarray(focal_order, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    # Place of every unit in the stable sort; controls by place.
    by_score = np.argsort(scores, kind="stable")
    place = np.empty(scores.size, dtype=np.int64)
    place[by_score] = np.arange(scores.size, dtype=np.int64)
    control_place = np.flatnonzero(~is_focal[by_score])
    m = int(control_place.size)
    if m == 0 or focal_order.size == 0:
        return empty, empty.copy()
    cal = math.inf if caliper is None else float(caliper)
    control_unit = by_score[control_place].tolist()
    control_score = scores[by_score[control_place]].tolist()
    control_place_l = control_place.tolist()
    focal_place = place[focal_order]
    # controls k < first_above[i] lie below focal unit i in the sort order
    first_above = np.searchsorted(control_place, focal_place, side="left").tolist()

    # below[x], x = k + 1 (x = 0: none): a live control points to itself, a used one to k (the
    # next below). above[k] (k = m: none): live -> itself, used -> k + 1.
    below = list(range(m + 1))
    above = list(range(m + 1))
    remaining = m
    out_f: list[int] = []
    out_c: list[int] = []
    for f, fp, j in zip(focal_order.tolist(), focal_place.tolist(), first_above, strict=True):
        pf = float(scores[f])
        r = j
        while above[r] != r:
            above[r] = above[above[r]]
            r = above[r]
        x = j
        while below[x] != x:
            below[x] = below[below[x]]
            x = below[x]
        lo = x - 1
        d_lo = abs(pf - control_score[lo]) if lo >= 0 else math.inf
        d_hi = abs(pf - control_score[r]) if r < m else math.inf
        lo_ok = lo >= 0 and d_lo <= cal
        hi_ok = r < m and d_hi <= cal
        if lo_ok and hi_ok:
            if d_lo == d_hi:  # met first in the alternating scan (below first)
                k = lo if fp - control_place_l[lo] <= control_place_l[r] - fp else r
            else:
                k = lo if d_lo < d_hi else r
        elif lo_ok:
            k = lo
        elif hi_ok:
            k = r
        else:
            continue
        out_f.append(f)
        out_c.append(control_unit[k])
        below[k + 1] = k
        above[k] = k + 1
        remaining -= 1
        if remaining == 0:
            break
    return np.asarray(out_f, dtype=np.int64), np.asarray(out_c, dtype=np.int64)


def _match_positions(
    scores: np.ndarray,
    focal: np.ndarray,
    caliper: float | None,
    order: str,
    random_state: int | np.random.Generator | None,
    exact: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into ``scores``, in data order) of matched focal and control units, in the order formed.

    ``exact`` (a label per unit) restricts each focal unit to controls with its label (MatchIt
    ``exact =``): the focal units keep their order, and each searches only its own stratum.
    """
    fi = np.flatnonzero(focal)
    if order == "largest":  # R's order(distance, decreasing = TRUE): ties in data order
        focal_order = fi[np.argsort(-scores[fi], kind="stable")]
    else:
        focal_order = fi[np.random.default_rng(random_state).permutation(fi.size)]
    if exact is None:
        return nearest_neighbor_pairs(scores, focal, caliper, focal_order)
    rank = np.empty(scores.size, dtype=np.int64)
    rank[focal_order] = np.arange(focal_order.size)
    labels = pd.factorize(np.asarray(exact, dtype=object))[0]
    fparts, cparts = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)  # data order kept inside the stratum
        local = np.full(scores.size, -1, dtype=np.int64)
        local[members] = np.arange(members.size)
        stratum_order = local[focal_order[labels[focal_order] == label]]
        f, c = nearest_neighbor_pairs(scores[members], focal[members], caliper, stratum_order)
        fparts.append(members[f])
        cparts.append(members[c])
    fpos, cpos = np.concatenate(fparts), np.concatenate(cparts)
    formed = np.argsort(rank[fpos], kind="stable")  # the pairs in the focal units' order
    return fpos[formed], cpos[formed]


def greedy_nearest_neighbor_match(
    ids: Sequence[str],
    is_focal: Sequence[bool],
    scores: Sequence[float],
    caliper: float | None = DEFAULTS.caliper,
    order: str = "largest",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Match focal units to controls on given scores (the matching step of `PropensityMatcher`).

    Parameters
    ----------
    ids : sequence of str
        Unique unit identifiers (``patient_id``).
    is_focal : sequence of bool
        True for focal (o-RAIT) units, False for controls.
    scores : sequence of float
        The matching score of each unit (propensity, or its logit).
    caliper : float or None, default 0.05 (the declared ``caliper``)
        Maximal admissible score distance (same scale as ``scores``); None for no caliper.
    order : {"largest", "random"}
        Focal units by descending score (ties by id in byte order), or in random order.
    random_state : int or numpy Generator, optional
        Seed for ``order="random"``.

    Returns
    -------
    DataFrame
        One row per pair, in the order formed: ``pair_id`` (1-based), ``focal_id``,
        ``control_id``, ``focal_score``, ``control_score``, ``distance``.

    Notes
    -----
    The units' data order (which breaks ties, `nearest_neighbor_pairs`) is ``ids`` in byte
    order, whatever order they are given in.
    """
    ids_l = [str(i) for i in ids]
    if len(set(ids_l)) != len(ids_l):
        raise MatchingError("unit ids must be unique; check for duplicate patient_id values")
    focal = np.asarray(is_focal, dtype=bool)
    sc = np.asarray(scores, dtype=float)
    if not (len(ids_l) == focal.size == sc.size):
        raise MatchingError("ids, is_focal and scores must have the same length")
    if not np.all(np.isfinite(sc)):
        raise MatchingError("matching scores must be finite; check the propensity model")
    if order not in _ORDERS:
        raise MatchingError(f"order must be one of {_ORDERS}, got {order!r}")
    data_order = _byte_order(ids_l)
    fpos, cpos = _match_positions(sc[data_order], focal[data_order], caliper, order, random_state)
    fpos, cpos = data_order[fpos], data_order[cpos]
    ids_arr = np.asarray(ids_l, dtype=object)
    return pd.DataFrame(
        {
            "pair_id": np.arange(1, fpos.size + 1, dtype=np.int64),
            "focal_id": ids_arr[fpos],
            "control_id": ids_arr[cpos],
            "focal_score": sc[fpos],
            "control_score": sc[cpos],
            "distance": np.abs(sc[cpos] - sc[fpos]),
        }
    )


# ---------------------------------------------------------------------------------------------
# Balance (stateless)
# ---------------------------------------------------------------------------------------------


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _variance(x: np.ndarray, binary: bool) -> float:
    """MatchIt's ``wvar`` with unit weights: p(1-p) for 0/1 data, else the n-1 sample variance."""
    if x.size == 0:
        return math.nan
    if binary:
        m = float(x.mean())
        return m * (1.0 - m)
    if x.size < 2:
        return math.nan
    return float(np.var(x, ddof=1))


def _pooled_sd(x: np.ndarray, focal: np.ndarray, binary: bool) -> float:
    """MatchIt's ``pooled_sd`` (proportional contribution, unit weights)."""
    n = x.size
    groups = [x[focal], x[~focal]]
    if binary:
        v = sum(g.sum() * (1.0 - g.sum() / g.size) / n for g in groups if g.size)
        return math.sqrt(v)
    resid = np.concatenate([g - g.mean() for g in groups if g.size])
    if n - 1 <= 0:
        return math.nan
    return math.sqrt(float((resid**2).sum()) / (n - 1))


def standardized_mean_difference(
    x: np.ndarray,
    focal: np.ndarray,
    selected: np.ndarray | None = None,
    binary: bool | None = None,
) -> float | None:
    """Standardised mean difference focal - control, as MatchIt's summary for the ATT.

    Parameters
    ----------
    x : ndarray of float
        Covariate values of all units (before matching).
    focal : ndarray of bool
        Focal-group indicator of all units.
    selected : ndarray of bool, optional
        Units whose means enter the difference (the matched units); all units when None. The
        denominator always comes from all focal units.
    binary : bool, optional
        Treat as a 0/1 covariate (SD ``sqrt(p(1-p))``); detected from the values when None.

    Returns
    -------
    float or None
        ``(mean_focal - mean_control) / s_focal``; the raw difference when it is below
        ``sqrt(eps)`` in absolute value (as MatchIt), None when either group has fewer than two
        selected units.
    """
    x = np.asarray(x, dtype=float)
    focal = np.asarray(focal, dtype=bool)
    sel = np.ones(x.size, dtype=bool) if selected is None else np.asarray(selected, dtype=bool)
    if binary is None:
        binary = _is_binary(x)
    x1, x0 = x[sel & focal], x[sel & ~focal]
    if x1.size == 0 or x0.size == 0 or (x1.size < 2 and x0.size < 2):
        return None
    mdiff = float(x1.mean() - x0.mean())
    if abs(mdiff) <= _SQRT_EPS:
        return mdiff
    sd = math.sqrt(_variance(x[focal], binary)) if focal.sum() else math.nan
    if not math.isfinite(sd) or sd < _SQRT_EPS:
        sd = _pooled_sd(x, focal, binary)
    if not math.isfinite(sd) or sd < _SQRT_EPS:
        return None
    return mdiff / sd


def baseline_balance(
    cohort: pd.DataFrame,
    matched_ids: Sequence[str],
    characteristics: Sequence[Characteristic] = TABLE1_CHARACTERISTICS,
    *,
    threshold: float = DEFAULTS.smd_threshold,
    matching_covariates: Sequence[str] = (),
    id_col: str = "patient_id",
    group_col: str = "rait_group",
    focal_group: str = O_RAIT,
    control_group: str = M_RAIT,
) -> pd.DataFrame:
    """Standardised mean differences of every baseline characteristic before and after matching.

    Every row block of Table 1 (default `TABLE1_CHARACTERISTICS`: age, sex, histology, tumour
    size, T group, N stage, ATA risk, local disease status, metastasis timing), not only the
    matching covariates. A continuous characteristic is one row; a categorical one gets **one row
    per level** (the level's indicator), as MatchIt's ``summary`` shows a factor -- not Yang &
    Dalton's single multi-level SMD. Each SMD is `standardized_mean_difference` (MatchIt's ATT
    definition: focal minus control mean over the SD of all focal patients before matching) over
    the patients with a known value: nulls, the characteristic's untestable levels (ATA
    ``unknown``) and values outside its vocabulary (a local disease status ``unknown``) are
    missing and counted per group.

    Parameters
    ----------
    cohort : DataFrame
        The eligible cohort (one row per patient).
    matched_ids : sequence of str
        The ids of the matched patients.
    characteristics : sequence of Characteristic
    threshold : float, default 0.1 (the declared ``smd_threshold``)
        ``|SMD| > threshold`` is flagged as imbalanced.
    matching_covariates : sequence of str
        The matching covariates (flagged in the ``matching_covariate`` column).

    Returns
    -------
    DataFrame
        One row per characteristic (level): ``covariate``, ``level`` (None for a continuous one),
        ``type``, ``matching_covariate``, the focal and control means (proportions) before and
        after, ``smd_before``, ``smd_after``, ``imbalanced_before``, ``imbalanced_after`` and the
        missing counts ``n_missing_before``, ``n_missing_after`` (both groups).
    """
    ids = cohort[id_col].astype(str)
    focal_all = (cohort[group_col] == focal_group).to_numpy()
    matched_all = ids.isin({str(i) for i in matched_ids}).to_numpy()
    fg = focal_group.lower().replace("-", "_")
    cg = control_group.lower().replace("-", "_")
    used = {DERIVED_COVARIATES.get(c, c).split("==")[0].strip() for c in matching_covariates}
    rows = []
    for ch in characteristics:
        if ch.variable not in cohort.columns:
            continue
        col = cohort[ch.variable]
        if ch.kind == "continuous":
            values = pd.to_numeric(col, errors="coerce")
            known = values.notna().to_numpy()
            series = [(None, values.to_numpy(dtype=float), False)]
        else:
            testable = [lv for lv in ch.levels if lv not in ch.untestable]
            known = col.isin(testable).to_numpy()
            text = col.astype(object).to_numpy()
            series = [(lv, (text == lv).astype(float), True) for lv in testable]
        f, sel = focal_all[known], matched_all[known]
        for level, x_all, binary in series:
            x = x_all[known]
            before = standardized_mean_difference(x, f, None, binary)
            after = standardized_mean_difference(x, f, sel, binary)
            rows.append(
                {
                    "covariate": ch.variable,
                    "label": ch.label,
                    "level": level,
                    "type": "binary" if binary else "continuous",
                    "matching_covariate": ch.variable in used,
                    f"mean_{fg}_before": _mean(x[f]),
                    f"mean_{cg}_before": _mean(x[~f]),
                    "smd_before": before,
                    f"mean_{fg}_after": _mean(x[f & sel]),
                    f"mean_{cg}_after": _mean(x[~f & sel]),
                    "smd_after": after,
                    "imbalanced_before": before is not None and abs(before) > threshold,
                    "imbalanced_after": after is not None and abs(after) > threshold,
                    "n_missing_before": int((~known).sum()),
                    "n_missing_after": int((~known & matched_all).sum()),
                }
            )
    return pd.DataFrame(rows)


def baseline_balance_section(balance: pd.DataFrame, threshold: float = DEFAULTS.smd_threshold) -> dict[str, Any]:
    """results.json ``matching.balance_baseline``: the rows of `baseline_balance`, the flagged ones, one sentence."""
    rows = balance.to_dict("records")

    def name(r: dict[str, Any]) -> str:
        label = r.get("label") or r["covariate"]
        return label if r["level"] is None else f"{label}: {r['level']}"

    after = [name(r) for r in rows if r["imbalanced_after"]]
    if not rows:
        sentence = "No baseline characteristic was available to compare."
    elif after:
        sentence = (
            f"After matching, {len(after)} of {len(rows)} baseline characteristics (levels) still differ by "
            f"|SMD| > {threshold:g} ({', '.join(after)}): the matched groups are similar only in the others, and "
            "the matched comparison is not adjusted for these."
        )
    else:
        sentence = (
            f"After matching every baseline characteristic (level) has |SMD| <= {threshold:g}, consistent with "
            "groups similar in the measured characteristics (unmeasured ones may still differ)."
        )
    return {
        "smd_threshold": threshold,
        "definition": (
            "SMD = (mean o-RAIT - mean m-RAIT) / SD of all o-RAIT patients before matching (MatchIt, ATT), over the "
            "patients with a known value; a categorical characteristic has one row per level (its indicator), as "
            "MatchIt's summary, not Yang & Dalton's multi-level SMD"
        ),
        "rows": rows,
        "imbalanced_before": [name(r) for r in rows if r["imbalanced_before"]],
        "imbalanced_after": after,
        "interpretation": sentence,
    }


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


# ---------------------------------------------------------------------------------------------
# Propensity matcher (lifelines style)
# ---------------------------------------------------------------------------------------------


def covariate_columns(cohort: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model matrix without intercept, balance matrix) of covariate specifications.

    A specification is a cohort column (numeric, boolean or categorical), a derived name of
    `DERIVED_COVARIATES`, or ``"column==value"`` (a 0/1 indicator). A categorical column enters
    the model as indicators of every level but the first in byte order (R's treatment
    contrasts) and the balance table with one row per level, as MatchIt's summary does.
    """
    model: dict[str, np.ndarray] = {}
    balance: dict[str, np.ndarray] = {}
    for spec in covariates:
        expr = DERIVED_COVARIATES.get(spec, spec)
        if "==" in expr:
            col, value = (s.strip() for s in expr.split("==", 1))
            _require_column(cohort, col, spec)
            s = cohort[col]
            _require_complete(s, col, spec)
            v = (s.astype(str) == value).to_numpy(dtype=float)
            model[spec] = balance[spec] = v
            continue
        _require_column(cohort, expr, spec)
        s = cohort[expr]
        _require_complete(s, expr, spec)
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            model[spec] = balance[spec] = s.to_numpy(dtype=float)
        else:
            levels = sorted(s.astype(str).unique())
            if len(levels) < 2:
                raise MatchingError(
                    f"matching covariate {spec!r} takes a single value in this cohort; drop it from the covariate list"
                )
            sv = s.astype(str).to_numpy()
            for i, lvl in enumerate(levels):
                ind = (sv == lvl).astype(float)
                balance[f"{spec}={lvl}"] = ind
                if i > 0:
                    model[f"{spec}={lvl}"] = ind
    return pd.DataFrame(model, index=cohort.index), pd.DataFrame(balance, index=cohort.index)


def _require_column(cohort: pd.DataFrame, col: str, spec: str) -> None:
    if col not in cohort.columns:
        raise MatchingError(
            f"matching covariate {spec!r} needs column {col!r}, which the cohort lacks; "
            "pass covariates= with columns of the analysis cohort"
        )


def _require_complete(s: pd.Series, col: str, spec: str) -> None:
    n_missing = int(s.isna().sum())
    if n_missing:
        raise MatchingError(
            f"matching covariate {spec!r}: column {col!r} is missing for {n_missing} patient(s); "
            "matching needs complete covariates - drop those patients or choose other covariates"
        )


class PropensityMatcher:
    """1:1 greedy nearest-neighbour propensity-score matching, o-RAIT (focal) to m-RAIT.

    Parameters
    ----------
    covariates : sequence of str, default `DEFAULT_COVARIATES`
        Covariates of the propensity model and the balance table: cohort columns, names of
        `DERIVED_COVARIATES` (``"local_persistent_disease"``) or ``"column==value"`` indicators.
    caliper : float or None, default 0.05 (the declared ``caliper``)
        Caliper width; None disables it.
    caliper_scale : {"propensity", "logit_sd"}, default "propensity"
        ``"propensity"``: match on the propensity score, caliper in its units (MatchIt
        ``std.caliper = FALSE``). ``"logit_sd"``: match on the logit of the propensity score,
        caliper in standard deviations of that logit over all units (MatchIt
        ``link = "linear.logit", std.caliper = TRUE``; Austin 2011 recommends 0.2).
    order : {"largest", "random"}, default "largest"
        Order in which focal units choose (MatchIt ``m.order``). ``"random"`` uses numpy's
        generator, so its pairs are reproducible with ``random_state`` but not equal to R's.
    random_state : int or numpy Generator, optional
        Seed for ``order="random"``.
    exact : str, optional
        A cohort column (e.g. ``"center_id"``) whose value a pair must share: pairs are formed
        only inside its levels (MatchIt ``exact = ~column``); the propensity model is fitted on
        the whole cohort.
    focal_group, control_group : str
        Group labels (o-RAIT is the focal group of the study).

    Attributes
    ----------
    propensity_ : Series
        Propensity of being in the focal group, indexed by patient id (byte order).
    model_ : statsmodels results
        The fitted logistic model.
    pairs_ : DataFrame
        ``pair_id``, ``o_rait_patient_id``, ``m_rait_patient_id``, both propensities and the
        distance on the matching scale, in the order the pairs were formed.
    unmatched_ : DataFrame
        ``patient_id``, group and propensity of every unit without a partner.
    balance_ : DataFrame
        Per covariate (level): means and SMD before and after matching.
    matched_cohort_ : DataFrame
        The cohort rows of matched patients plus ``pair_id`` and ``propensity_score``.
    caliper_width_ : float or None
        The caliper on the matching scale (equals ``caliper`` for ``"propensity"``).

    Examples
    --------
    >>> from rait_registry.analysis import PropensityMatcher
    >>> matcher = PropensityMatcher(caliper=0.05).fit(cohort, id_col="patient_id", group_col="rait_group")
    >>> len(matcher.pairs_), round(float(matcher.summary["smd_after"].abs().max()), 3)
    (35, 0.09)
    >>> matcher.to_dict()["pairs"][0]
    ['P000025', 'P000089']
    """

    def __init__(
        self,
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        caliper: float | None = DEFAULTS.caliper,
        caliper_scale: str = DEFAULTS.caliper_scale,
        order: str = DEFAULTS.matching_order,
        random_state: int | np.random.Generator | None = DEFAULTS.random_state,
        focal_group: str = O_RAIT,
        control_group: str = M_RAIT,
        exact: str | None = None,
    ) -> None:
        if isinstance(covariates, str):
            covariates = [covariates]
        self.covariates = list(covariates)
        if not self.covariates:
            raise MatchingError("give at least one matching covariate")
        if caliper is not None and not (caliper > 0 and math.isfinite(caliper)):
            raise MatchingError(f"caliper must be a positive number or None, got {caliper!r}")
        if caliper_scale not in _CALIPER_SCALES:
            raise MatchingError(f"caliper_scale must be one of {_CALIPER_SCALES}, got {caliper_scale!r}")
        if order not in _ORDERS:
            raise MatchingError(f"order must be one of {_ORDERS}, got {order!r}")
        self.caliper = caliper
        self.caliper_scale = caliper_scale
        self.order = order
        self.random_state = random_state
        self.exact = exact
        self.focal_group = focal_group
        self.control_group = control_group

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, cohort: pd.DataFrame, id_col: str = "patient_id", group_col: str = "rait_group") -> PropensityMatcher:
        """Estimate propensity scores, match, and compute balance.

        Parameters
        ----------
        cohort : DataFrame
            One row per patient with the id, group and covariate columns (docs/specification.md section 3
            ``analysis_cohort``).
        id_col, group_col : str
            Patient id and group columns.

        Returns
        -------
        self

        Raises
        ------
        MatchingError
            Missing columns or covariate values, duplicate ids, unknown group labels, or a group
            without patients.
        """
        self.id_col, self.group_col = id_col, group_col
        for col in (self.id_col, self.group_col):
            if col not in cohort.columns:
                raise MatchingError(f"the cohort has no {col!r} column; matching needs it")
        ids = cohort[self.id_col].astype(str)
        dup = ids[ids.duplicated()]
        if len(dup):
            raise MatchingError(
                f"patient_id {dup.iloc[0]!r} occurs more than once; the cohort must have one row per patient"
            )
        # a missing-data code of a covariate's column (local disease 'unknown') is missing data: those
        # patients are left out of the matching, with a warning saying how many
        columns = {DERIVED_COVARIATES.get(c, c).split("==", 1)[0].strip() for c in self.covariates}
        for column, n in missing_code_counts(cohort, sorted(columns)).items():
            warnings.warn("matching: " + dropped_message(column, n, "the matching"), StatisticsWarning, stacklevel=2)
            cohort = cohort.loc[~missing_code_mask(cohort[column], column)]
            ids = cohort[self.id_col].astype(str)
        groups = cohort[self.group_col]
        bad = ~groups.isin([self.focal_group, self.control_group])
        if bad.any():
            raise MatchingError(
                f"{int(bad.sum())} row(s) have a {self.group_col} other than "
                f"{self.focal_group!r}/{self.control_group!r} (first patient_id {ids[bad].iloc[0]!r}); "
                "matching compares exactly these two groups"
            )
        # Data order = patient_id byte order (determines MatchIt's order among focal ties).
        if pd.Index(ids).is_monotonic_increasing:  # Python str order = UTF-8 byte order
            data = cohort.reset_index(drop=True)
        else:
            order = np.argsort(np.asarray(ids.to_numpy(), dtype=str), kind="stable")
            data = cohort.iloc[order].reset_index(drop=True)
        ids_sorted = data[self.id_col].astype(str).to_numpy(dtype=object)
        focal = (data[self.group_col] == self.focal_group).to_numpy()
        n1, n0 = int(focal.sum()), int((~focal).sum())
        if n1 == 0 or n0 == 0:
            missing = self.focal_group if n1 == 0 else self.control_group
            raise MatchingError(f"no {missing} patients in the cohort; matching needs both groups")
        if n0 < n1:
            warnings.warn(
                f"fewer {self.control_group} ({n0}) than {self.focal_group} ({n1}) patients: "
                f"not every {self.focal_group} patient can get a match",
                StatisticsWarning,
                stacklevel=2,
            )

        model_X, balance_X = covariate_columns(data, self.covariates)
        lp, p, result = self._propensity(model_X, focal)
        self.model_ = result
        self.model_columns_ = list(model_X.columns)
        if self.caliper_scale == "propensity":
            score = p
            self.caliper_width_ = self.caliper
        else:
            score = lp
            sd = float(np.std(lp, ddof=1)) if lp.size > 1 else math.nan
            self.caliper_width_ = None if self.caliper is None else self.caliper * sd

        # rows are in patient_id byte order: MatchIt's data order
        exact = None
        if self.exact is not None:
            _require_column(data, self.exact, self.exact)
            _require_complete(data[self.exact], self.exact, self.exact)
            exact = data[self.exact].astype(str).to_numpy(dtype=object)
        fpos, cpos = _match_positions(score, focal, self.caliper_width_, self.order, self.random_state, exact)
        n_pairs = int(fpos.size)
        pair_ids = np.arange(1, n_pairs + 1, dtype=np.int64)
        fcol, ccol = self._pair_columns()
        fslug, cslug = self._slugs()
        self.pairs_ = pd.DataFrame(
            {
                "pair_id": pair_ids,
                fcol: ids_sorted[fpos],
                ccol: ids_sorted[cpos],
                f"{fslug}_propensity": p[fpos],
                f"{cslug}_propensity": p[cpos],
                "distance": np.abs(score[cpos] - score[fpos]),
            }
        )
        matched = np.zeros(len(ids_sorted), dtype=bool)
        matched[fpos] = True
        matched[cpos] = True

        self.propensity_ = pd.Series(p, index=pd.Index(ids_sorted, name=self.id_col), name="propensity_score")
        self.unmatched_ = pd.DataFrame(
            {
                self.id_col: ids_sorted[~matched],
                self.group_col: data[self.group_col].to_numpy()[~matched],
                "propensity_score": p[~matched],
            }
        )
        # matched cohort: pair by pair, the focal patient first
        rows = np.empty(2 * n_pairs, dtype=np.int64)
        rows[0::2] = fpos
        rows[1::2] = cpos
        mc = data.iloc[rows].reset_index(drop=True)
        mc["pair_id"] = np.repeat(pair_ids, 2)
        mc["propensity_score"] = p[rows]
        self.matched_cohort_ = mc
        self.balance_ = self._balance(balance_X, focal, matched)
        self.n_focal_, self.n_control_ = n1, n0
        return self

    def _slugs(self) -> tuple[str, str]:
        def slug(g: str) -> str:
            return g.lower().replace("-", "_").replace(" ", "_")

        return slug(self.focal_group), slug(self.control_group)

    def _pair_columns(self) -> tuple[str, str]:
        fs, cs = self._slugs()
        return f"{fs}_patient_id", f"{cs}_patient_id"

    @staticmethod
    def _propensity(model_X: pd.DataFrame, focal: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """Logistic regression of the focal indicator on the covariates (statsmodels Logit)."""
        X = model_X.to_numpy(dtype=float)
        exog = np.column_stack([np.ones(X.shape[0]), X])
        y = focal.astype(float)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = sm.Logit(y, exog).fit(method="newton", maxiter=200, tol=1e-12, disp=0, warn_convergence=True)
            except np.linalg.LinAlgError as exc:
                raise MatchingError(
                    "the propensity model cannot be fitted: the covariates are collinear "
                    f"({', '.join(model_X.columns)}); drop a redundant covariate"
                ) from exc
        for w in caught:
            if issubclass(w.category, (PerfectSeparationWarning, ConvergenceWarning)):
                warnings.warn(
                    "the propensity model did not converge cleanly (the covariates may separate the "
                    "groups); units outside common support will stay unmatched",
                    StatisticsWarning,
                    stacklevel=3,
                )
                break
        beta = np.asarray(result.params, dtype=float)
        # Column-wise accumulation: identical covariate rows give bit-identical scores.
        lp = np.full(X.shape[0], beta[0])
        for j in range(X.shape[1]):
            lp = lp + X[:, j] * beta[j + 1]
        e = np.exp(lp)
        p = e / (1.0 + e)
        p = np.where(np.isfinite(p), p, 1.0)
        return lp, p, result

    def _balance(self, balance_X: pd.DataFrame, focal: np.ndarray, matched: np.ndarray) -> pd.DataFrame:
        rows = []
        fg, cg = self._slugs()
        for name in balance_X.columns:
            x = balance_X[name].to_numpy(dtype=float)
            binary = _is_binary(x)
            rows.append(
                {
                    "covariate": name,
                    "type": "binary" if binary else "continuous",
                    f"mean_{fg}_before": float(x[focal].mean()),
                    f"mean_{cg}_before": float(x[~focal].mean()),
                    "smd_before": standardized_mean_difference(x, focal, None, binary),
                    f"mean_{fg}_after": float(x[focal & matched].mean()) if (focal & matched).any() else None,
                    f"mean_{cg}_after": float(x[~focal & matched].mean()) if (~focal & matched).any() else None,
                    "smd_after": standardized_mean_difference(x, focal, matched, binary),
                }
            )
        return pd.DataFrame(rows)

    # -- results ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "pairs_"):
            raise MatchingError("call fit(cohort) before asking for results")

    @property
    def summary(self) -> pd.DataFrame:
        """The balance table (`balance_`)."""
        self._check_fitted()
        return self.balance_

    def to_dict(self) -> dict[str, Any]:
        """The docs/specification.md section 4 ``matching`` object (JSON-ready).

        Keys: ``covariates``, ``caliper``, ``caliper_scale``, ``n_pairs``, ``pairs``
        (``[[o_rait_patient_id, m_rait_patient_id], ...]`` in the order formed), ``unmatched``
        (``{group: [patient_id, ...]}``), ``balance`` (rows ``{covariate, smd_before,
        smd_after}``), plus ``caliper_width`` (on the matching scale), ``order``,
        ``n_unmatched`` per group, ``n`` per group, ``focal_group`` and ``method``.
        """
        self._check_fitted()
        fcol, ccol = self._pair_columns()
        um = self.unmatched_
        return {
            "covariates": list(self.covariates),
            "caliper": self.caliper,
            "caliper_scale": self.caliper_scale,
            "caliper_width": self.caliper_width_,
            "order": self.order,
            "focal_group": self.focal_group,
            "method": (
                "1:1 greedy nearest-neighbour matching without replacement on the propensity score "
                "(logistic regression), focal units in "
                + ("descending propensity" if self.order == "largest" else "random order")
                + ("" if self.exact is None else f", pairs only within {self.exact}")
                + "; as MatchIt method='nearest', distance='glm'"
                + ("" if self.exact is None else f", exact = ~{self.exact}")
            ),
            "n": {self.focal_group: self.n_focal_, self.control_group: self.n_control_},
            "n_pairs": len(self.pairs_),
            "pairs": [[str(a), str(b)] for a, b in zip(self.pairs_[fcol], self.pairs_[ccol], strict=True)],
            "unmatched": {
                g: [str(i) for i in um.loc[um[self.group_col] == g, self.id_col]]
                for g in (self.focal_group, self.control_group)
            },
            "n_unmatched": {g: int((um[self.group_col] == g).sum()) for g in (self.focal_group, self.control_group)},
            "balance": [
                {
                    "covariate": r.covariate,
                    "smd_before": _none_if_nan(r.smd_before),
                    "smd_after": _none_if_nan(r.smd_after),
                }
                for r in self.balance_.itertuples(index=False)
            ],
        }


def _none_if_nan(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v
