"""Two-group and paired tests used by Tables 1 and 2, and the rule that chooses between them.

Everything here is a thin wrapper around scipy / statsmodels, with two exceptions that
those libraries lack:

* :func:`fisher_exact_rxc` -- an *exact* Fisher test for r x c tables. scipy 1.17's
  ``fisher_exact`` on tables larger than 2 x 2 is a Monte Carlo test, so its p-value is
  random and differs from R's ``fisher.test`` (network algorithm, exact). The study's
  tables are small, so a plain enumeration of all tables with the observed margins is
  enough (no network algorithm).
* :func:`paired_ordinal_tests` -- bookkeeping only: it codes ordered response categories
  as ranks and calls ``scipy.stats.wilcoxon`` and statsmodels' ``SquareTable``.

Conventions (docs/specification.md section 4): the categorical test follows a rule
(`CATEGORICAL_TEST_RULES`, the declared ``test_rule``). The default, revision 2's (the paper's):
Pearson chi-square without correction when every expected count is >= 5; otherwise the
Yates-corrected chi-square for a 2 x 2 table and the exact Fisher test for a larger one.
Revision 1's rule (``pearson_fisher``): exact Fisher for every table with an expected count
below 5. Fisher's test is always exact, never Monte Carlo. Whatever the rule shows,
`categorical_tests` gives all four p-values of a table (Pearson, Yates for a 2 x 2 table, the
likelihood-ratio G-test and Fisher). Mann-Whitney U is the asymptotic normal approximation with
continuity and tie corrections, i.e. R's ``wilcox.test(exact = FALSE, correct = TRUE)``.

References
----------
Agresti A. *Categorical Data Analysis*, 3rd ed. Wiley, 2013 (sections 3.2, 3.5, 11.1).
Yates F. Contingency tables involving small numbers and the chi-squared test. *Suppl J R Stat
Soc* 1934;1:217-235.
Mehta CR, Patel NR. A network algorithm for performing Fisher's exact test in r x c
contingency tables. *J Am Stat Assoc* 1983;78:427-434 (the probability ordering used here).
Stuart A. A test for homogeneity of the marginal distributions in a two-way
classification. *Biometrika* 1955;42:412-416. Maxwell AE. Comparing the classification of
subjects by two independent judges. *Br J Psychiatry* 1970;116:651-655.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from rait_registry import params
from rait_registry.exceptions import AnalysisError, InsufficientDataError

from .config import DEFAULTS

__all__ = [
    "CATEGORICAL_TESTS",
    "CATEGORICAL_TEST_RULES",
    "RESPONSE_ORDER",
    "TestResult",
    "categorical_tests",
    "chosen_test",
    "compare_categorical",
    "fisher_exact_rxc",
    "g_test",
    "mann_whitney",
    "paired_ordinal_tests",
    "pearson_chi2",
    "yates_chi2",
]

#: Response categories in clinical order (docs/specification.md section 4): CR < PR < SD < PD.
RESPONSE_ORDER: tuple[str, ...] = ("CR", "PR", "SD", "PD")

#: The categorical tests of `categorical_tests`, by their ``TestResult.test`` name: Pearson
#: chi-square (uncorrected), Yates-corrected chi-square (2 x 2 tables only), likelihood-ratio
#: G-test and exact Fisher.
CATEGORICAL_TESTS: tuple[str, ...] = ("chi_square", "chi_square_yates", "g_test", "fisher_exact")

#: The rules that choose the categorical test shown (the declared ``test_rule``):
#: ``pearson_yates_fisher`` (revision 2, the paper's rule) and ``pearson_fisher`` (revision 1).
CATEGORICAL_TEST_RULES: tuple[str, ...] = tuple(params.get("test_rule").choices or ())

#: Relative tolerance used, as in R's ``fisher.test``, when comparing table probabilities.
FISHER_REL_ERR = 1.0 + 1e-7


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test: a statistic, a p-value and the name of the test used.

    ``test`` is a stable machine-readable name (``mann_whitney``, ``chi_square``,
    ``chi_square_yates``, ``g_test``, ``fisher_exact``, ``wilcoxon_signed_rank``,
    ``stuart_maxwell``); ``detail`` holds extras such as degrees of freedom, expected counts,
    the number of pairs or, for a categorical comparison, every test's p-value.
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    detail: dict = field(default_factory=dict)


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Two-sided Mann-Whitney U test, normal approximation with continuity and tie corrections.

    Equals R ``wilcox.test(x, y, exact = FALSE, correct = TRUE)``: the statistic is R's
    ``W`` (the U of ``x``). Missing values are dropped.

    Raises
    ------
    InsufficientDataError
        When either group has no non-missing value.
    """
    xa = _finite(x)
    ya = _finite(y)
    if len(xa) == 0 or len(ya) == 0:
        raise InsufficientDataError(
            "Mann-Whitney U needs at least one non-missing value in each group; "
            f"got {len(xa)} and {len(ya)}. Check the variable is filled for both groups."
        )
    res = stats.mannwhitneyu(xa, ya, use_continuity=True, alternative="two-sided", method="asymptotic")
    # scipy returns the U of the first sample, which is R's W.
    return TestResult("mann_whitney", float(res.statistic), float(res.pvalue), {"n": [len(xa), len(ya)]})


def pearson_chi2(table: np.ndarray | pd.DataFrame) -> TestResult:
    """Pearson chi-square test of independence without Yates' correction (R ``chisq.test(correct=FALSE)``)."""
    t = _clean_table(table)
    chi2, p, dof, expected = stats.chi2_contingency(t, correction=False)
    return TestResult("chi_square", float(chi2), float(p), {"df": int(dof), "min_expected": float(expected.min())})


def yates_chi2(table: np.ndarray | pd.DataFrame) -> TestResult:
    """Chi-square test of a 2 x 2 table with Yates' continuity correction (R ``chisq.test(correct=TRUE)``).

    Each ``|observed - expected|`` is reduced by ``min(0.5, |observed - expected|)``, as R does.
    Rows or columns with a zero total are dropped first.

    Raises
    ------
    AnalysisError
        The table is not 2 x 2 once empty rows and columns are dropped (the correction is
        defined for 2 x 2 tables only).
    """
    t = _clean_table(table)
    if t.shape != (2, 2):
        raise AnalysisError(
            f"Yates' correction is defined for a 2 x 2 table; this one is {t.shape[0]} x {t.shape[1]} "
            "(after dropping empty rows and columns). Use pearson_chi2 or fisher_exact_rxc."
        )
    chi2, p, dof, expected = stats.chi2_contingency(t, correction=True)
    return TestResult(
        "chi_square_yates", float(chi2), float(p), {"df": int(dof), "min_expected": float(expected.min())}
    )


def g_test(table: np.ndarray | pd.DataFrame) -> TestResult:
    """Likelihood-ratio chi-square (G-test) of independence, without correction.

    ``G = 2 sum O log(O / E)`` (empty cells contribute 0) against chi-square with
    ``(r - 1)(c - 1)`` degrees of freedom: scipy ``chi2_contingency(lambda_="log-likelihood")``;
    SPSS prints it as "Likelihood Ratio" beside Pearson's test.
    """
    t = _clean_table(table)
    g, p, dof, expected = stats.chi2_contingency(t, correction=False, lambda_="log-likelihood")
    return TestResult("g_test", float(g), float(p), {"df": int(dof), "min_expected": float(expected.min())})


def fisher_exact_rxc(table: np.ndarray | pd.DataFrame, max_tables: int = 20_000_000) -> TestResult:
    """Exact two-sided Fisher test for an r x c table, as R ``fisher.test``.

    All tables with the observed row and column sums are enumerated; the p-value is the
    total probability of the tables whose (conditional, multivariate hypergeometric)
    probability is at most the observed table's times ``1 + 1e-7`` (R's ``relErr``).
    Rows or columns whose total is zero are dropped first (they do not change the
    p-value). A 2 x 2 table goes to ``scipy.stats.fisher_exact``, which is exact for it.

    Written here because scipy 1.17's r x c ``fisher_exact`` is a Monte Carlo test.

    Parameters
    ----------
    table : array-like of non-negative integers
    max_tables : int
        Refuse (``AnalysisError``) when the number of column configurations to enumerate
        would exceed this; use the chi-square test or a network-algorithm implementation
        for such tables.

    Returns
    -------
    TestResult
        ``statistic`` is the probability of the observed table.
    """
    t = _clean_table(table)
    r, c = t.shape
    if r < 2 or c < 2:
        return TestResult("fisher_exact", float("nan"), 1.0, {"shape": [r, c], "note": "degenerate table"})
    if r == 2 and c == 2:
        _, p = stats.fisher_exact(t, alternative="two-sided")
        return TestResult(
            "fisher_exact", float(_table_prob(t, t.sum(1), t.sum(0)).item()), float(min(p, 1.0)), {"shape": [2, 2]}
        )
    shape = [int(r), int(c)]
    # enumerate over the shorter dimension as columns: fewer, longer column vectors
    if c > r:
        t = t.T
        r, c = c, r
    rows = t.sum(axis=1)
    cols = t.sum(axis=0)
    n = int(t.sum())
    const = gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1)
    log_obs = const - gammaln(t + 1).sum()
    threshold = log_obs + np.log(FISHER_REL_ERR)

    p_total = 0.0
    counter = [0]

    def recurse(j: int, remaining: np.ndarray, partial: float) -> None:
        nonlocal p_total
        if j == c - 1:  # last column is fixed by the remaining row sums
            lp = const + partial - gammaln(remaining + 1).sum()
            if lp <= threshold:
                p_total += np.exp(lp)
            return
        vecs = _bounded_compositions(remaining, int(cols[j]))
        counter[0] += len(vecs)
        if counter[0] > max_tables:
            raise AnalysisError(
                f"Exact Fisher test on a {r} x {c} table with n = {n} needs more than {max_tables} "
                "enumeration steps; merge sparse levels or use the chi-square test for this row."
            )
        contrib = -gammaln(vecs + 1).sum(axis=1)
        if j == c - 2:  # vectorise the final two columns
            rest = remaining[None, :] - vecs
            lp = const + partial + contrib - gammaln(rest + 1).sum(axis=1)
            p_total += np.exp(lp[lp <= threshold]).sum()
            return
        for vec, cp in zip(vecs, contrib):
            recurse(j + 1, remaining - vec, partial + cp)

    recurse(0, rows.astype(np.int64), 0.0)
    return TestResult("fisher_exact", float(np.exp(log_obs)), float(min(p_total, 1.0)), {"shape": shape})


def categorical_tests(table: np.ndarray | pd.DataFrame) -> dict[str, TestResult | None]:
    """Every categorical test of a table: ``{name: TestResult or None}`` over `CATEGORICAL_TESTS`.

    Rows/columns with a zero total are dropped first. ``chi_square_yates`` is None unless the
    table is 2 x 2; every test is None when fewer than two non-empty rows or columns remain;
    ``fisher_exact`` is None when its exact enumeration would be too large (`fisher_exact_rxc`).
    """
    t = _clean_table(table)
    out: dict[str, TestResult | None] = dict.fromkeys(CATEGORICAL_TESTS)
    if t.shape[0] < 2 or t.shape[1] < 2:
        return out
    out["chi_square"] = pearson_chi2(t)
    out["chi_square_yates"] = yates_chi2(t) if t.shape == (2, 2) else None
    out["g_test"] = g_test(t)
    try:
        out["fisher_exact"] = fisher_exact_rxc(t)
    except AnalysisError:
        out["fisher_exact"] = None
    return out


def chosen_test(shape: tuple[int, int], min_expected: float, rule: str, threshold: float = 5.0) -> str:
    """The name of the test a rule shows for a table of ``shape`` whose smallest expected count is ``min_expected``.

    ``pearson_yates_fisher`` (revision 2, the paper's): ``chi_square`` when every expected count
    is >= ``threshold``, else ``chi_square_yates`` for a 2 x 2 table and ``fisher_exact`` for a
    larger one. ``pearson_fisher`` (revision 1): ``chi_square``, else ``fisher_exact``.
    """
    if rule not in CATEGORICAL_TEST_RULES:
        raise AnalysisError(f"test rule must be one of {', '.join(CATEGORICAL_TEST_RULES)}, not {rule!r}.")
    if min_expected >= threshold:
        return "chi_square"
    if rule == "pearson_yates_fisher" and tuple(shape) == (2, 2):
        return "chi_square_yates"
    return "fisher_exact"


def compare_categorical(
    table: np.ndarray | pd.DataFrame, min_expected: float = 5.0, rule: str = DEFAULTS.test_rule
) -> TestResult:
    """Choose and run the categorical test of Tables 1-2 by ``rule`` (`chosen_test`).

    Rows/columns with a zero total are dropped first. The result is the chosen test's, and its
    ``detail`` also holds ``min_expected``, ``rule`` and ``p_values``: every test's p-value
    (`categorical_tests`; None where a test does not apply).

    Raises
    ------
    AnalysisError
        The rule chooses Fisher's test and its exact enumeration would be too large.
    """
    t = _clean_table(table)
    if t.shape[0] < 2 or t.shape[1] < 2:
        return TestResult(
            "none", float("nan"), float("nan"), {"note": "fewer than two non-empty levels or groups: no test"}
        )
    expected = np.outer(t.sum(1), t.sum(0)) / t.sum()
    name = chosen_test(t.shape, float(expected.min()), rule, min_expected)
    every = categorical_tests(t)
    res = every[name] if every[name] is not None else fisher_exact_rxc(t)  # raises with the reason
    res.detail["min_expected"] = float(expected.min())
    res.detail["rule"] = rule
    res.detail["p_values"] = {k: (None if v is None else v.p_value) for k, v in every.items()}
    return res


def paired_ordinal_tests(
    first: Sequence[str],
    last: Sequence[str],
    order: Sequence[str] = RESPONSE_ORDER,
) -> tuple[TestResult, TestResult]:
    """Paired comparison of two ordered categorical responses (first vs last RAIT).

    Pairs where either value is missing or not in ``order`` (e.g. ``NE``) are dropped.

    Returns
    -------
    wilcoxon : TestResult
        Wilcoxon signed-rank test on the category ranks (``CR`` = 1 ... ``PD`` = 4),
        zero differences dropped, normal approximation with tie and continuity
        corrections: R ``wilcox.test(last, first, paired = TRUE, exact = FALSE,
        correct = TRUE)``. ``statistic`` is R's ``V`` for ``last - first`` (sum of ranks of
        the pairs that got worse).
    stuart_maxwell : TestResult
        Stuart-Maxwell test of marginal homogeneity (statsmodels ``SquareTable``) on the
        square first x last table over the categories that occur in either margin.
    """
    rank = {c: i + 1 for i, c in enumerate(order)}
    f = pd.Series(list(first), dtype=object)
    la = pd.Series(list(last), dtype=object)
    keep = f.isin(list(order)) & la.isin(list(order))
    f, la = f[keep], la[keep]
    n_pairs = int(keep.sum())
    if n_pairs == 0:
        raise InsufficientDataError(
            "No pair with both responses evaluable (CR/PR/SD/PD); the paired tests need at least one."
        )
    fr = f.map(rank).to_numpy(dtype=float)
    lr = la.map(rank).to_numpy(dtype=float)
    d = lr - fr
    n_nonzero = int((d != 0).sum())
    if n_nonzero == 0:
        wil = TestResult(
            "wilcoxon_signed_rank", 0.0, 1.0, {"n_pairs": n_pairs, "n_nonzero": 0, "note": "no pair changed category"}
        )
    else:
        res = stats.wilcoxon(
            lr, fr, zero_method="wilcox", correction=True, alternative="two-sided", method="asymptotic"
        )
        # scipy's two-sided statistic is min(V+, V-); report R's V (sum of positive-difference ranks)
        ranks = stats.rankdata(np.abs(d[d != 0]))
        v_plus = float(ranks[d[d != 0] > 0].sum())
        wil = TestResult(
            "wilcoxon_signed_rank", v_plus, float(res.pvalue), {"n_pairs": n_pairs, "n_nonzero": n_nonzero}
        )

    present = [c for c in order if (f == c).any() or (la == c).any()]
    square = pd.crosstab(
        pd.Categorical(f, categories=present), pd.Categorical(la, categories=present), dropna=False
    ).to_numpy()
    if len(present) < 2:
        sm = TestResult("stuart_maxwell", 0.0, 1.0, {"n_pairs": n_pairs, "df": 0, "note": "one category only"})
    else:
        from statsmodels.stats.contingency_tables import SquareTable

        hom = SquareTable(square, shift_zeros=False).homogeneity(method="stuart_maxwell")
        sm = TestResult(
            "stuart_maxwell",
            float(hom.statistic),
            float(hom.pvalue),
            {"n_pairs": n_pairs, "df": int(hom.df), "categories": present},
        )
    return wil, sm


# --------------------------------------------------------------------------- helpers


def _finite(x: Sequence[float]) -> np.ndarray:
    a = pd.to_numeric(pd.Series(list(x), dtype=object), errors="coerce").to_numpy(dtype=float)
    return a[np.isfinite(a)]


def _clean_table(table: np.ndarray | pd.DataFrame) -> np.ndarray:
    t = np.asarray(table, dtype=float)
    if t.ndim != 2:
        raise AnalysisError(f"A contingency table must be two-dimensional; got shape {t.shape}.")
    if (t < 0).any() or not np.allclose(t, np.round(t)):
        raise AnalysisError("A contingency table must hold non-negative whole counts.")
    t = np.round(t).astype(np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    return t


def _table_prob(t: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = rows.sum()
    return np.exp(gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1) - gammaln(t + 1).sum())


def _bounded_compositions(caps: np.ndarray, total: int) -> np.ndarray:
    """All integer vectors v with 0 <= v <= caps and sum(v) == total, as a (k, len(caps)) array."""
    r = len(caps)
    # suffix capacities: the most the remaining rows can still absorb
    suffix = np.concatenate([np.cumsum(caps[::-1])[::-1][1:], [0]])
    partial = np.zeros((1, 0), dtype=np.int64)
    sums = np.zeros(1, dtype=np.int64)
    for i in range(r):
        left = total - sums
        lo = np.maximum(0, left - suffix[i])
        hi = np.minimum(caps[i], left)
        counts = np.maximum(hi - lo + 1, 0)
        idx = np.repeat(np.arange(len(partial)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        vals = lo[idx] + offs
        partial = np.column_stack([partial[idx], vals])
        sums = sums[idx] + vals
    return partial
