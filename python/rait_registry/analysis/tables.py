"""Tables 1 and 2 of the study: characteristics and RAIT/response by group, with the test used.

Inputs are the published marts as DataFrames (docs/specification.md section 3): ``analysis_cohort``
(one row per eligible patient) and ``rait_cycles`` (one row per administration; only the
cohort's patients are used). Outputs are tidy DataFrames whose rows follow docs/specification.md section 4 -- ``{variable, level, overall, o_rait, m_rait, p_value, test}`` -- plus:

``label``
    the row's caption as in the paper;
``statistic``
    ``median_iqr`` (continuous: ``overall``/``o_rait``/``m_rait`` hold the median and
    ``*_p25``/``*_p75`` the quartiles), ``n_pct`` (a level: counts, with ``*_pct`` the
    percentage among the patients with a known, testable value of that variable) or ``n``
    (a count only: the ``missing`` row, a not-testable level such as ATA ``unknown`` or
    response ``NE``, and the paired-change rows);
``n_missing``
    patients left out of the variable's test (null, a missing-data code such as local disease
    ``unknown``, or a not-testable level);
``min_expected``, ``p_chi_square``, ``p_chi_square_yates``, ``p_g_test``, ``p_fisher_exact``
    categorical rows: the smallest expected count and every test's p-value (Pearson
    uncorrected, Yates-corrected for a 2 x 2 table, likelihood-ratio G-test, exact Fisher;
    null where a test does not apply), beside ``p_value``/``test``, the one the rule shows
    (``test_rule``: `rait_registry.analysis.hypothesis_tests.chosen_test`);
``*_display``, ``p_display``
    display strings (``"29.9 (19.2, 39.4)"``, ``"45 (38.5)"``, ``"<0.0001"``).

``p_value`` and ``test`` are repeated on every row of a variable so that each row stands
alone; a renderer shows them once per variable. Levels are always listed in vocabulary
order, zero counts included (levels empty in every group are left out of the test). A
missing-data code (`rait_registry.analysis.missing`) is never a level: its patients are counted
in the ``missing`` row, left out of the test, with a `StatisticsWarning` saying how many.

Quartiles default to ``quantile_method="weibull"``: R ``quantile(type = 6)``, which is
SPSS's default (HAVERAGE) and so the paper's most likely; pass ``"linear"`` for R's
default type 7.

References
----------
Shi C, et al. Less is more: once vs. multiple radioactive iodine therapy in patients with
RAI-avid pulmonary micrometastatic DTC. *Eur J Nucl Med Mol Imaging* 2025 (Tables 1-2).
Hyndman RJ, Fan Y. Sample quantiles in statistical packages. *Am Stat* 1996;50:361-365.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rait_registry.contract import DAYS_PER_MONTH, M_RAIT, O_RAIT, RAIT_GROUPS
from rait_registry.exceptions import AnalysisError, InsufficientDataError, StatisticsWarning

from .config import DEFAULTS
from .formatting import format_p
from .hypothesis_tests import (
    CATEGORICAL_TESTS,
    RESPONSE_ORDER,
    TestResult,
    compare_categorical,
    mann_whitney,
    paired_ordinal_tests,
)
from .jsonutil import jsonable
from .missing import MISSING_CODES, dropped_message

__all__ = [
    "TABLE1_CHARACTERISTICS",
    "Characteristic",
    "Table1",
    "Table2",
    "cohort_section",
    "records",
    "response_shift_table",
    "table1",
    "table2",
]

#: Output column for each group; ``overall`` pools both.
GROUP_COLUMNS: dict[str, str | None] = {"overall": None, "o_rait": O_RAIT, "m_rait": M_RAIT}

RESPONSE_LEVELS: tuple[str, ...] = RESPONSE_ORDER + ("NE",)

ROW_COLUMNS: list[str] = [
    "variable",
    "label",
    "level",
    "statistic",
    "overall",
    "o_rait",
    "m_rait",
    "p_value",
    "test",
    "n_missing",
    "min_expected",
    *(f"p_{name}" for name in CATEGORICAL_TESTS),
    "overall_pct",
    "o_rait_pct",
    "m_rait_pct",
    "overall_p25",
    "overall_p75",
    "o_rait_p25",
    "o_rait_p75",
    "m_rait_p25",
    "m_rait_p75",
    "overall_display",
    "o_rait_display",
    "m_rait_display",
    "p_display",
]


@dataclass(frozen=True)
class Characteristic:
    """One row block of a table.

    Parameters
    ----------
    variable : str
        Column of the cohort mart.
    label : str
        Caption (the paper's wording).
    kind : {"continuous", "categorical"}
    levels : tuple of str
        Vocabulary, in display order (categorical only).
    untestable : tuple of str
        Levels shown as counts but left out of the test, like nulls (ATA ``unknown``,
        response ``NE``).
    missing : tuple of str
        Values that are missing data (local disease ``unknown``): counted in the ``missing``
        row, never shown as a level, left out of the test with a warning.
    digits : int
        Decimals of the display string of a continuous row.

    Examples
    --------
    >>> from rait_registry.analysis import Characteristic, Table1
    >>> sex = Characteristic("sex", "Sex", "categorical", ("F", "M"))
    >>> Table1([sex]).fit(cohort).summary[["level", "overall_display", "p_display", "test"]]
      level overall_display p_display        test
    0     F       72 (61.5)     0.512  chi_square
    1     M       45 (38.5)     0.512  chi_square
    """

    variable: str
    label: str
    kind: str
    levels: tuple[str, ...] = ()
    untestable: tuple[str, ...] = ()
    digits: int = 1
    level_labels: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


#: Table 1 rows, in the paper's order.
TABLE1_CHARACTERISTICS: tuple[Characteristic, ...] = (
    Characteristic("age_at_diagnosis_years", "Age at diagnosis (years)", "continuous"),
    Characteristic("sex", "Sex", "categorical", ("F", "M")),
    Characteristic("histology", "Pathological type", "categorical", ("PTC", "FTC", "other")),
    Characteristic("max_tumor_size_cm", "Maximum primary tumour size (cm)", "continuous"),
    Characteristic("t_stage_group", "AJCC T stage", "categorical", ("T1+T2", "T3+T4")),
    Characteristic("n_stage_max", "AJCC N stage", "categorical", ("N0", "N1a", "N1b")),
    Characteristic(
        "ata_risk",
        "Initial risk stratification (ATA 2015)",
        "categorical",
        ("low", "intermediate", "high", "unknown"),
        untestable=("unknown",),
    ),
    Characteristic(
        "local_disease_status",
        "Local recurrence or persistent disease before RAIT",
        "categorical",
        ("neither", "local_recurrence", "local_persistent"),
        missing=MISSING_CODES["local_disease_status"],
    ),
    Characteristic("metastasis_timing", "Distant metastasis timing", "categorical", ("synchronous", "metachronous")),
)


# --------------------------------------------------------------------------- public API


def cohort_section(cohort: pd.DataFrame, group_col: str = "rait_group") -> dict[str, int]:
    """docs/specification.md section 4 ``cohort``: ``{n_eligible, n_o_rait, n_m_rait}``."""
    _require(cohort, ["patient_id", group_col], "analysis_cohort")
    group = _checked_groups(cohort, group_col)
    return {
        "n_eligible": len(cohort),
        "n_o_rait": int((group == O_RAIT).sum()),
        "n_m_rait": int((group == M_RAIT).sum()),
    }


def table1(
    cohort: pd.DataFrame,
    characteristics: Iterable[Characteristic] = TABLE1_CHARACTERISTICS,
    *,
    quantile_method: str = "weibull",
    min_expected: float = 5.0,
    group_col: str = "rait_group",
    test_rule: str = DEFAULTS.test_rule,
) -> pd.DataFrame:
    """Table 1: clinicopathological characteristics, overall and by group, with the test used.

    Continuous rows: median (P25, P75) and the Mann-Whitney U test (asymptotic, continuity
    and tie corrected: R ``wilcox.test(exact = FALSE)``). Categorical rows: n (%) and the test
    ``test_rule`` chooses: the uncorrected Pearson chi-square test when every expected count is
    at least ``min_expected``; otherwise (``pearson_yates_fisher``, revision 2) the
    Yates-corrected chi-square for a 2 x 2 table and Fisher's exact test (exact also for r x c)
    for a larger one, or (``pearson_fisher``, revision 1) Fisher's exact test for every table;
    each row also carries every test's p-value. Missing values (null, a missing-data code, or
    an untestable level such as ATA ``unknown``) are left out of that variable's test and
    counted in ``n_missing``; a ``missing`` row shows the nulls and missing-data codes per group.

    Parameters
    ----------
    cohort : DataFrame
        ``marts.analysis_cohort``.
    characteristics : iterable of Characteristic
        Row blocks (default: the paper's Table 1).
    quantile_method : str
        ``numpy.quantile`` method for the quartiles (default ``"weibull"`` = R type 6 = SPSS).
    min_expected : float
        The rule's threshold: Pearson's test when every expected count is at least this.
    group_col : str
        The group column (o-RAIT / m-RAIT).
    test_rule : {"pearson_yates_fisher", "pearson_fisher"}
        The declared ``test_rule``.

    Returns
    -------
    DataFrame with the columns of :data:`ROW_COLUMNS`.
    """
    chars = list(characteristics)
    _require(cohort, ["patient_id", group_col] + [c.variable for c in chars], "analysis_cohort")
    group = _checked_groups(cohort, group_col)
    rows: list[dict] = []
    for ch in chars:
        if ch.kind == "continuous":
            rows += _continuous_rows(ch, cohort[ch.variable], group, quantile_method)
        elif ch.kind == "categorical":
            rows += _categorical_rows(ch, cohort[ch.variable], group, min_expected, test_rule)
        else:
            raise AnalysisError(
                f"Characteristic {ch.variable!r} has kind {ch.kind!r}; use 'continuous' or 'categorical'."
            )
    return _frame(rows)


def table2(
    cohort: pd.DataFrame,
    cycles: pd.DataFrame,
    *,
    interval: str = "pooled",
    quantile_method: str = "weibull",
    min_expected: float = 5.0,
    group_col: str = "rait_group",
    test_rule: str = DEFAULTS.test_rule,
) -> pd.DataFrame:
    """Table 2: RAIT activity, interval between cycles and response, by group.

    Rows (``variable``):

    ``median_activity_gbq``
        per-patient median single-cycle activity; median (P25, P75), Mann-Whitney U.
    ``cumulative_gbq``
        per-patient cumulative activity; median (P25, P75), Mann-Whitney U.
    ``interval_months``
        m-RAIT only: months between consecutive cycles (``days_since_previous / 30.4375``).
        With ``interval="pooled"`` (default) every interval of every m-RAIT patient is one
        observation -- the paper's "interval between each RAIT cycle" summarises all
        intervals, which is its most likely reading. ``interval="patient_median"`` first
        takes each patient's median interval. No test.
    ``first_response``
        response to the first RAIT, o-RAIT vs m-RAIT: the test ``test_rule`` chooses, as in Table 1.
    ``last_response``
        response to the last RAIT: the m-RAIT group's last response against the o-RAIT
        group's (only) response, tested as in Table 1; ``overall`` pools both.
    ``m_rait_first_vs_last``
        m-RAIT, first vs last response within patient, coded CR < PR < SD < PD: rows
        ``improved`` / ``unchanged`` / ``worsened`` / ``not_evaluable`` (counts; percent of
        evaluable pairs), tested by the Wilcoxon signed-rank test (R ``wilcox.test(paired =
        TRUE, exact = FALSE, correct = TRUE)``).
    ``m_rait_marginal_homogeneity``
        the same pairs, Stuart-Maxwell test of marginal homogeneity; ``m_rait`` = number of
        evaluable pairs.

    ``first_response_at_horizon``, ``last_response_at_horizon``, ``m_rait_first_vs_last_at_horizon``, ``m_rait_marginal_homogeneity_at_horizon``
        when ``cycles`` has ``response_at_horizon`` (docs/specification.md section 2, "Response
        at a fixed horizon"): the same comparisons on each cycle's response judged on the evidence
        up to its administration + ``response_horizon_months``, so that an o-RAIT cycle (judged
        until last contact) and an m-RAIT first cycle (until the next administration) are
        compared over windows of the same length.

    Response rows list CR, PR, SD, PD and NE; NE is left out of every test. Cycles of
    patients not in ``cohort`` are ignored. The paper's "5-year PFS rate" row belongs to
    the survival analysis and is not produced here.
    """
    _require(
        cohort,
        ["patient_id", group_col, "median_activity_gbq", "cumulative_gbq", "first_response", "last_response"],
        "analysis_cohort",
    )
    _require(cycles, ["patient_id", "cycle_number", "days_since_previous"], "rait_cycles")
    if interval not in ("pooled", "patient_median"):
        raise AnalysisError(f"interval must be 'pooled' or 'patient_median', not {interval!r}.")
    group = _checked_groups(cohort, group_col)
    rows: list[dict] = []
    rows += _continuous_rows(
        Characteristic("median_activity_gbq", "Median single RAIT cycle activity (GBq)", "continuous", digits=2),
        cohort["median_activity_gbq"],
        group,
        quantile_method,
    )
    rows += _continuous_rows(
        Characteristic("cumulative_gbq", "Cumulative RAIT activity (GBq)", "continuous", digits=2),
        cohort["cumulative_gbq"],
        group,
        quantile_method,
    )
    rows.append(_interval_row(cohort, cycles, group, interval, quantile_method))
    resp = Characteristic(
        "first_response", "Response to first RAIT", "categorical", RESPONSE_LEVELS, untestable=("NE",)
    )
    rows += _categorical_rows(resp, cohort["first_response"], group, min_expected, test_rule)
    resp = Characteristic(
        "last_response",
        "Response to last RAIT (o-RAIT: its only RAIT)",
        "categorical",
        RESPONSE_LEVELS,
        untestable=("NE",),
    )
    rows += _categorical_rows(resp, cohort["last_response"], group, min_expected, test_rule)
    rows += _paired_rows(cohort, group)
    if "response_at_horizon" in cycles.columns:
        rows += _horizon_rows(cohort, cycles, group, min_expected, test_rule)
    return _frame(rows)


def _horizon_rows(
    cohort: pd.DataFrame, cycles: pd.DataFrame, group: pd.Series, min_expected: float, test_rule: str
) -> list[dict]:
    """The response comparisons of Table 2 repeated on ``rait_cycles.response_at_horizon``.

    Every cycle judged on the evidence dated up to its administration + ``response_horizon_months``
    (an o-RAIT patient's only cycle is otherwise judged until last contact, an m-RAIT first cycle
    only until the next administration): the first and last responses of each cohort patient are
    read from cycles 1 and n, then compared as ``first_response`` / ``last_response`` and the
    m-RAIT first-vs-last pairs are.
    """
    _require(cycles, ["patient_id", "cycle_number", "response_at_horizon"], "rait_cycles")
    ordered = cycles[cycles["patient_id"].isin(cohort["patient_id"])].sort_values(["patient_id", "cycle_number"])
    by_patient = ordered.groupby("patient_id")["response_at_horizon"]
    at_horizon = pd.DataFrame(
        {
            "first_response": cohort["patient_id"].map(by_patient.first()),
            "last_response": cohort["patient_id"].map(by_patient.last()),
        },
        index=cohort.index,
    )
    rows: list[dict] = []
    for which, label in (
        ("first", "Response to first RAIT at the fixed horizon (evidence up to admin + response_horizon_months)"),
        ("last", "Response to last RAIT at the fixed horizon (o-RAIT: its only RAIT)"),
    ):
        ch = Characteristic(f"{which}_response_at_horizon", label, "categorical", RESPONSE_LEVELS, untestable=("NE",))
        rows += _categorical_rows(ch, at_horizon[f"{which}_response"], group, min_expected, test_rule)
    rows += _paired_rows(at_horizon, group, suffix="_at_horizon", label_suffix=", at the fixed horizon")
    return rows


class _StudyTable:
    """What Tables 1 and 2 share: the fitted table as ``summary`` and as contract records."""

    table_: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The table (`table_`)."""
        if not hasattr(self, "table_"):
            raise AnalysisError(f"call {type(self).__name__}().fit(...) before reading the table")
        return self.table_

    def to_dict(self) -> list[dict]:
        """docs/specification.md section 4 ``table1`` / ``table2``: the rows as JSON-ready records (a list, like
        pandas' ``to_dict("records")``)."""
        return records(self.summary)


class Table1(_StudyTable):
    """Table 1 of the study: clinicopathological characteristics by group, with the test used (`table1`).

    Parameters
    ----------
    characteristics : iterable of Characteristic
        Row blocks (default: the paper's Table 1).
    quantile_method : str
        ``numpy.quantile`` method of the quartiles (``"weibull"`` = R type 6 = SPSS).
    min_expected : float
        The test rule's threshold on the smallest expected count (5).
    test_rule : {"pearson_yates_fisher", "pearson_fisher"}
        The categorical test rule (declared ``test_rule``; `table1`).

    Attributes
    ----------
    table_ : DataFrame
        One row per variable (continuous) or level (categorical), columns :data:`ROW_COLUMNS`.

    Examples
    --------
    >>> from rait_registry.analysis import Table1
    >>> t1 = Table1().fit(cohort, group_col="rait_group")
    >>> t1.summary.set_index(["variable", "level"]).loc["sex", ["o_rait_display", "m_rait_display", "p_display"]]
          o_rait_display m_rait_display p_display
    level
    F          25 (65.8)      47 (59.5)     0.512
    M          13 (34.2)      32 (40.5)     0.512
    """

    def __init__(
        self,
        characteristics: Iterable[Characteristic] = TABLE1_CHARACTERISTICS,
        *,
        quantile_method: str = "weibull",
        min_expected: float = 5.0,
        test_rule: str = DEFAULTS.test_rule,
    ) -> None:
        self.characteristics = tuple(characteristics)
        self.quantile_method = quantile_method
        self.min_expected = min_expected
        self.test_rule = test_rule

    def fit(self, cohort: pd.DataFrame, group_col: str = "rait_group") -> Table1:
        """Build the table from ``marts.analysis_cohort``; returns self."""
        self.table_ = table1(
            cohort,
            self.characteristics,
            quantile_method=self.quantile_method,
            min_expected=self.min_expected,
            group_col=group_col,
            test_rule=self.test_rule,
        )
        return self


class Table2(_StudyTable):
    """Table 2 of the study: RAIT activity, interval between cycles and response by group (`table2`).

    Parameters
    ----------
    interval : {"pooled", "patient_median"}
        Intervals between cycles pooled over patients (default) or per-patient medians.
    quantile_method, min_expected, test_rule
        See `Table1`.

    Attributes
    ----------
    table_ : DataFrame
        Columns :data:`ROW_COLUMNS`.

    Examples
    --------
    >>> from rait_registry.analysis import Table2
    >>> t2 = Table2().fit(cohort, cycles)
    >>> t2.summary.set_index(["variable", "level"]).loc["first_response", ["overall", "o_rait", "m_rait"]]
          overall o_rait m_rait
    level
    CR          0      0      0
    PR         58     19     39
    SD         48     15     33
    PD         11      4      7
    NE          0      0      0
    """

    def __init__(
        self,
        interval: str = "pooled",
        *,
        quantile_method: str = "weibull",
        min_expected: float = 5.0,
        test_rule: str = DEFAULTS.test_rule,
    ) -> None:
        self.interval = interval
        self.quantile_method = quantile_method
        self.min_expected = min_expected
        self.test_rule = test_rule

    def fit(self, cohort: pd.DataFrame, cycles: pd.DataFrame, group_col: str = "rait_group") -> Table2:
        """Build the table from ``marts.analysis_cohort`` and ``marts.rait_cycles``; returns self."""
        self.table_ = table2(
            cohort,
            cycles,
            interval=self.interval,
            quantile_method=self.quantile_method,
            min_expected=self.min_expected,
            group_col=group_col,
            test_rule=self.test_rule,
        )
        return self


def response_shift_table(cohort: pd.DataFrame, group: str = M_RAIT) -> pd.DataFrame:
    """First (rows) x last (columns) response counts for one group, CR..PD then NE (the Fig. 2 flows)."""
    _require(cohort, ["rait_group", "first_response", "last_response"], "analysis_cohort")
    sub = cohort[cohort["rait_group"] == group]
    f = pd.Categorical(sub["first_response"], categories=list(RESPONSE_LEVELS))
    la = pd.Categorical(sub["last_response"], categories=list(RESPONSE_LEVELS))
    tab = pd.crosstab(f, la, dropna=False)
    tab.index.name, tab.columns.name = "first_response", "last_response"
    return tab


def records(df: pd.DataFrame) -> list[dict]:
    """Rows of ``df`` as JSON-safe dicts: NaN/NA/NaT -> None, numpy scalars -> Python numbers."""
    return [jsonable(rec) for rec in df.to_dict(orient="records")]


# --------------------------------------------------------------------------- row builders


def _continuous_rows(ch: Characteristic, values: pd.Series, group: pd.Series, qmethod: str) -> list[dict]:
    x = pd.to_numeric(values, errors="coerce")
    row = _blank(ch, level=None, statistic="median_iqr")
    for col, g in GROUP_COLUMNS.items():
        v = x if g is None else x[group == g]
        v = v.dropna().to_numpy(dtype=float)
        if len(v):
            med, q1, q3 = np.quantile(v, [0.5, 0.25, 0.75], method=qmethod)
            row[col], row[f"{col}_p25"], row[f"{col}_p75"] = float(med), float(q1), float(q3)
            row[f"{col}_display"] = f"{med:.{ch.digits}f} ({q1:.{ch.digits}f}, {q3:.{ch.digits}f})"
    row["n_missing"] = int(x.isna().sum())
    try:
        res = mann_whitney(x[group == O_RAIT], x[group == M_RAIT])
        row["p_value"], row["test"] = res.p_value, res.test
    except InsufficientDataError:
        pass
    row["p_display"] = format_p(row["p_value"], missing=None)
    return [row]


def _categorical_rows(
    ch: Characteristic, values: pd.Series, group: pd.Series, min_expected: float, rule: str
) -> list[dict]:
    v = values.astype(object).where(values.notna(), None)
    coded = v.isin(ch.missing) if ch.missing else pd.Series(False, index=v.index)
    if coded.any():
        warnings.warn(
            dropped_message(ch.variable, int(coded.sum()), f"the test of {ch.variable} (counted in its missing row)"),
            StatisticsWarning,
            stacklevel=3,
        )
        v = v.where(~coded, None)
    unknown = sorted({str(x) for x in v.dropna().unique()} - set(ch.levels))
    if unknown:
        raise AnalysisError(
            f"Column {ch.variable!r} holds values outside its vocabulary {list(ch.levels)}: {unknown}. "
            "Rebuild the marts (values are normalised there) or add the level to the table definition."
        )
    testable_levels = [lv for lv in ch.levels if lv not in ch.untestable]
    testable = v.isin(testable_levels)
    n_missing = int((~testable).sum())
    table = pd.crosstab(
        pd.Categorical(v[testable], categories=testable_levels),
        pd.Categorical(group[testable], categories=list(RAIT_GROUPS)),
        dropna=False,
    )
    res: TestResult | None = compare_categorical(table.to_numpy(), min_expected, rule) if testable.any() else None
    p = None if res is None or np.isnan(res.p_value) else res.p_value
    test = None if res is None or res.test == "none" else res.test
    every = (res.detail.get("p_values") or {}) if res is not None else {}
    extra = {f"p_{name}": every.get(name) for name in CATEGORICAL_TESTS}
    extra["min_expected"] = res.detail.get("min_expected") if res is not None else None

    rows = []
    for lv in list(ch.levels) + (["missing"] if v.isna().any() else []):
        is_testable = lv in testable_levels
        row = _blank(ch, level=lv, statistic="n_pct" if is_testable else "n")
        for col, g in GROUP_COLUMNS.items():
            in_g = pd.Series(True, index=v.index) if g is None else (group == g)
            n_level = int(((v.isna()) if lv == "missing" else (v == lv))[in_g].sum())
            row[col] = n_level
            if is_testable:
                denom = int((testable & in_g).sum())
                pct = 100.0 * n_level / denom if denom else None
                row[f"{col}_pct"] = pct
                row[f"{col}_display"] = f"{n_level} ({pct:.1f})" if pct is not None else f"{n_level}"
            else:
                row[f"{col}_display"] = f"{n_level}"
        row["p_value"], row["test"], row["n_missing"] = p, test, n_missing
        row.update(extra)
        row["p_display"] = format_p(p, missing=None)
        rows.append(row)
    return rows


def _interval_row(cohort: pd.DataFrame, cycles: pd.DataFrame, group: pd.Series, how: str, qmethod: str) -> dict:
    ch = Characteristic("interval_months", "Interval between RAIT cycles (months)", "continuous")
    m_ids = set(cohort.loc[group == M_RAIT, "patient_id"])
    cyc = cycles[cycles["patient_id"].isin(m_ids) & (pd.to_numeric(cycles["cycle_number"]) > 1)]
    months = pd.to_numeric(cyc["days_since_previous"], errors="coerce") / DAYS_PER_MONTH
    if how == "patient_median":
        months = months.groupby(cyc["patient_id"]).median()
    row = _blank(ch, level=None, statistic="median_iqr")
    row["label"] += " [pooled over intervals]" if how == "pooled" else " [per-patient median]"
    v = months.dropna().to_numpy(dtype=float)
    if len(v):
        med, q1, q3 = np.quantile(v, [0.5, 0.25, 0.75], method=qmethod)
        row["m_rait"], row["m_rait_p25"], row["m_rait_p75"] = float(med), float(q1), float(q3)
        row["m_rait_display"] = f"{med:.1f} ({q1:.1f}, {q3:.1f})"
    row["n_missing"] = int(months.isna().sum())
    return row


def _paired_rows(cohort: pd.DataFrame, group: pd.Series, suffix: str = "", label_suffix: str = "") -> list[dict]:
    m = cohort[group == M_RAIT]
    rank = {c: i for i, c in enumerate(RESPONSE_ORDER)}
    f = m["first_response"].map(rank)
    la = m["last_response"].map(rank)
    ok = f.notna() & la.notna()
    n_pairs = int(ok.sum())
    counts = {
        "improved": int((la[ok] < f[ok]).sum()),
        "unchanged": int((la[ok] == f[ok]).sum()),
        "worsened": int((la[ok] > f[ok]).sum()),
        "not_evaluable": int((~ok).sum()),
    }
    try:
        wil, sm = paired_ordinal_tests(m["first_response"], m["last_response"])
    except InsufficientDataError:
        wil = sm = None
    ch = Characteristic(
        f"m_rait_first_vs_last{suffix}",
        f"m-RAIT: last vs first RAIT response (CR<PR<SD<PD){label_suffix}",
        "categorical",
    )
    rows = []
    for lv, n in counts.items():
        row = _blank(ch, level=lv, statistic="n_pct" if lv != "not_evaluable" else "n")
        row["m_rait"] = n
        if lv != "not_evaluable" and n_pairs:
            row["m_rait_pct"] = 100.0 * n / n_pairs
            row["m_rait_display"] = f"{n} ({row['m_rait_pct']:.1f})"
        else:
            row["m_rait_display"] = f"{n}"
        row["n_missing"] = counts["not_evaluable"]
        if wil is not None:
            row["p_value"], row["test"] = wil.p_value, wil.test
        row["p_display"] = format_p(row["p_value"], missing=None)
        rows.append(row)
    ch = Characteristic(
        f"m_rait_marginal_homogeneity{suffix}",
        f"m-RAIT: first vs last response, marginal homogeneity{label_suffix}",
        "categorical",
    )
    row = _blank(ch, level=None, statistic="n")
    row["m_rait"], row["m_rait_display"], row["n_missing"] = n_pairs, f"{n_pairs} pairs", counts["not_evaluable"]
    if sm is not None:
        row["p_value"], row["test"] = sm.p_value, sm.test
    row["p_display"] = format_p(row["p_value"], missing=None)
    rows.append(row)
    return rows


# --------------------------------------------------------------------------- helpers


def _blank(ch: Characteristic, level: str | None, statistic: str) -> dict:
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(variable=ch.variable, label=ch.label, level=level, statistic=statistic)
    return row


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=ROW_COLUMNS, dtype=object)
    # overall/o_rait/m_rait mix counts (int) and medians (float): kept as objects so counts
    # stay integers in CSV and JSON; the other numeric columns are float, n_missing Int64
    for c in ("overall", "o_rait", "m_rait"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    tests = {f"p_{name}" for name in CATEGORICAL_TESTS} | {"p_value", "min_expected"}
    num = [c for c in ROW_COLUMNS if c.endswith(("_pct", "_p25", "_p75")) or c in tests]
    for c in num:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["n_missing"] = pd.to_numeric(df["n_missing"], errors="coerce").astype("Int64")
    return df


def _require(df: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(
            f"{name} lacks column(s) {missing}; pass the published mart marts.{name} (docs/specification.md section 3)."
        )


def _checked_groups(cohort: pd.DataFrame, group_col: str = "rait_group") -> pd.Series:
    g = cohort[group_col]
    bad = ~g.isin(RAIT_GROUPS)
    if bad.any():
        raise AnalysisError(
            f"{int(bad.sum())} cohort row(s) have a {group_col} other than {list(RAIT_GROUPS)} (first at row "
            f"{int(np.flatnonzero(bad.to_numpy())[0]) + 1}); analysis_cohort should hold eligible patients only."
        )
    return g
