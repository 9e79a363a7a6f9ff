"""What the survival analyses rest on: follow-up, deaths, RAIT cycles, and the PFS censoring rule.

* `cohort_summary` -- the study's numbers outside the tables (results.json ``cohort_summary``):
  the median number of RAIT cycles in m-RAIT with its range, the median follow-up with its range
  (overall and per group), and the number of deaths (from ``marts.pfs``: ``death_date`` is given
  exactly when the patient is dead).
* `censoring_rule` -- where PFS without an event is censored in the marts analysed
  (docs/specification.md section 2, revision 2): ``last_assessment`` (the latest imaging study
  from the first RAIT to last contact; the default) or ``last_contact`` (revision 1). The rule is
  the dbt var ``pfs_censoring`` the refresh recorded in ``history.refresh_runs.dbt_vars``, else
  its declared default; a refresh that recorded no ``contract_revision`` implemented revision 1,
  which censored at last contact.
* `last_contact_sensitivity` -- the 5-year PFS and the hazard ratio with PFS censored at last
  contact (``marts.pfs.pfs_months_last_contact``, published from revision 2 on), beside the rule
  in force: censoring at last contact credits months without any disease assessment.

>>> rule = censoring_rule({"contract_revision": 2, "dbt_vars": {}})
>>> rule["rule"], rule["contract_revision"]
('last_assessment', 2)
>>> censoring_rule({"contract_revision": None, "run_id": "r1", "dbt_vars": {}})["rule"]
'last_contact'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rait_registry import params
from rait_registry.contract import M_RAIT, O_RAIT, RAIT_GROUPS, REVISION_BEFORE_RECORDING
from rait_registry.exceptions import UsageError

from .config import DEFAULTS
from .skips import skipped
from .survival import SurvivalComparison

__all__ = [
    "CENSORING_RULES",
    "PFS_COLUMNS",
    "censoring_rule",
    "cohort_summary",
    "last_contact_sensitivity",
    "with_pfs",
]

#: The columns of ``marts.pfs`` the analysis adds to the cohort when they exist.
PFS_COLUMNS: tuple[str, ...] = ("death_date", "event_type", "pfs_months_last_contact")

#: What each censoring rule means (docs/specification.md section 2, "PFS").
CENSORING_RULES: dict[str, str] = {
    "last_assessment": "censored at the last disease assessment: the latest imaging study from the first RAIT to "
    "last contact, or the first RAIT when there is none",
    "last_contact": "censored at the last contact (revision 1), crediting months without any disease assessment",
}


def _declared_censoring_default() -> tuple[str, str]:
    """(default, where it comes from): the declared dbt var, or the contract's default when this
    version does not declare ``pfs_censoring`` yet."""
    try:
        return str(params.get("pfs_censoring").default), "the declared default of pfs_censoring"
    except UsageError:
        return "last_assessment", "the contract's default (this version does not declare pfs_censoring)"


def censoring_rule(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The PFS censoring rule of the marts analysed, from the refresh provenance (results.json ``meta``).

    Parameters
    ----------
    meta : mapping, optional
        ``meta`` of results.json (`rait_registry.analysis.run.warehouse_meta`): ``run_id``,
        ``dbt_vars`` and ``contract_revision`` of the refresh read; empty or None when the marts
        came without provenance.

    Returns
    -------
    dict
        ``rule`` (``last_assessment`` or ``last_contact``), ``description``, ``source`` (where the
        rule was read), ``contract_revision`` (None when unknown).
    """
    meta = dict(meta or {})
    revision = meta.get("contract_revision")
    refreshed = bool(meta.get("run_id"))
    if revision is None and refreshed:
        revision = REVISION_BEFORE_RECORDING
    recorded = (meta.get("dbt_vars") or {}).get("pfs_censoring")
    if revision is not None and int(revision) < 2:
        rule, source = "last_contact", f"contract revision {int(revision)} (before pfs_censoring existed)"
    elif recorded:
        rule, source = str(recorded), "history.refresh_runs.dbt_vars of the refresh read"
    else:
        rule, source = _declared_censoring_default()
        if not refreshed:
            source += "; no refresh history, so the rule the marts were built with is not recorded"
    return {
        "rule": rule,
        "description": CENSORING_RULES.get(rule, rule),
        "source": source,
        "contract_revision": None if revision is None else int(revision),
    }


def with_pfs(cohort: pd.DataFrame, pfs: pd.DataFrame | None) -> pd.DataFrame:
    """``cohort`` with the `PFS_COLUMNS` of ``marts.pfs`` it lacks, joined by ``patient_id`` (unchanged without ``pfs``)."""
    if pfs is None or "patient_id" not in pfs.columns:
        return cohort
    extra = [c for c in PFS_COLUMNS if c in pfs.columns and c not in cohort.columns]
    if not extra:
        return cohort
    return cohort.merge(pfs[["patient_id", *extra]], on="patient_id", how="left", validate="one_to_one")


def _range(values: pd.Series) -> dict[str, Any]:
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if not x.size:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": int(x.size), "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max())}


def cohort_summary(cohort: pd.DataFrame, group_col: str = "rait_group") -> dict[str, Any]:
    """results.json ``cohort_summary``: RAIT cycles in m-RAIT, follow-up and deaths.

    ``m_rait_cycles`` and ``follow_up_months`` are ``{n, median, min, max}`` (the ordinary median;
    follow-up from the first RAIT to death or last contact, overall and per group); ``deaths``
    counts ``death_date`` overall and per group, and the deaths that ended PFS (``event_type``
    ``death``: no progression before), or is skipped when the cohort carries no ``death_date``
    (pass ``marts.pfs``: `with_pfs`).

    Examples
    --------
    >>> summary = cohort_summary(cohort)
    >>> summary["m_rait_cycles"]
    {'n': 79, 'median': 3.0, 'min': 2.0, 'max': 7.0}
    >>> {k: round(v, 1) for k, v in summary["follow_up_months"]["overall"].items() if k != "n"}
    {'median': 64.7, 'min': 13.0, 'max': 258.0}
    >>> summary["deaths"]["skipped"]
    True
    """
    group = cohort[group_col]
    out: dict[str, Any] = {"m_rait_cycles": _range(cohort.loc[group == M_RAIT, "n_rait_cycles"])}
    follow = cohort["follow_up_months"]
    out["follow_up_months"] = {
        "overall": _range(follow),
        "o_rait": _range(follow[group == O_RAIT]),
        "m_rait": _range(follow[group == M_RAIT]),
    }
    if "death_date" not in cohort.columns:
        out["deaths"] = skipped(
            "the cohort carries no death_date: deaths are recorded in marts.pfs (pass it to analyze as pfs=)"
        )
        return out
    dead = cohort["death_date"].notna()
    deaths: dict[str, Any] = {
        "overall": int(dead.sum()),
        "o_rait": int((dead & (group == O_RAIT)).sum()),
        "m_rait": int((dead & (group == M_RAIT)).sum()),
    }
    if "event_type" in cohort.columns:
        deaths["ending_pfs"] = int((cohort["event_type"] == "death").sum())
    out["deaths"] = deaths
    return out


def last_contact_sensitivity(
    cohort: pd.DataFrame,
    matched_cohort: pd.DataFrame | None,
    rule: str,
    *,
    horizon: float = DEFAULTS.horizon_months,
    alpha: float = DEFAULTS.alpha,
    group_col: str = "rait_group",
) -> dict[str, Any]:
    """5-year PFS and the m-RAIT vs o-RAIT hazard ratio with PFS censored at last contact.

    Returns ``{"eligible": analysis, "matched": analysis}`` (`SurvivalComparison.to_dict` on
    ``pfs_months_last_contact``), or the skipped shape when the marts carry no
    ``pfs_months_last_contact`` (a warehouse refreshed before revision 2) or the rule in force
    already censors at last contact. ``matched`` is skipped without a matched cohort.
    """
    if rule == "last_contact":
        return skipped("PFS is already censored at last contact (pfs_censoring = last_contact): nothing to compare")
    if "pfs_months_last_contact" not in cohort.columns:
        return skipped(
            "the marts carry no pfs_months_last_contact (marts.pfs publishes it from contract revision 2 on): "
            "refresh the warehouse to compare the censoring rules"
        )

    def compare(data: pd.DataFrame) -> dict[str, Any]:
        return (
            SurvivalComparison(list(RAIT_GROUPS), horizon=horizon, alpha=alpha)
            .fit(data, duration_col="pfs_months_last_contact", event_col="pfs_event", group_col=group_col)
            .to_dict()
        )

    out: dict[str, Any] = {"eligible": compare(cohort)}
    if matched_cohort is None:
        out["matched"] = skipped("matching was not run")
    else:
        ids = matched_cohort[["patient_id"]]
        out["matched"] = compare(ids.merge(cohort, on="patient_id", how="left", validate="one_to_one"))
    return out
