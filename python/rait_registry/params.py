"""Every study parameter, declared once.

A *study parameter* is a number, date or choice that changes a result: the windows and
thresholds of the derivation rules (dbt vars, set per refresh) and the options of the
analysis (set per ``analyze``). Each is declared here with its type, unit, allowed range,
default, meaning and the rules it drives. Everything else is generated from, or checked
against, this declaration:

* ``dbt_project/dbt_project.yml`` ``vars:`` (``tests/test_params.py`` fails when they drift);
* ``rait-registry refresh --var NAME=VALUE``: `parse_var_overrides` refuses an unknown name,
  a bad type or an out-of-range value before any work starts (exit code 2);
* the analysis configuration (``rait_registry.analysis.AnalysisConfig``) has the fields and
  defaults of `ANALYSIS_PARAMETERS` (``tests/test_analyze.py`` fails when they drift), and the
  ``analyze`` options are generated from their ``cli`` names;
* ``rait-registry params`` prints the table, and the report's parameter section lists the
  values a run used.

The specification of each rule is in ``docs/specification.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import UsageError

#: The value types a parameter can have.
TYPES = ("integer", "number", "date", "choice", "boolean", "number_list", "text_list")


@dataclass(frozen=True)
class Parameter:
    """One study parameter.

    Attributes
    ----------
    name : str
        The parameter's name: the dbt var, the ``--var`` name, the config field.
    scope : {"refresh", "analysis"}
        ``refresh``: a dbt var of the derivation rules (recorded with each refresh);
        ``analysis``: an option of ``analyze``.
    type : str
        One of `TYPES`.
    default : Any
        The value used when none is given.
    meaning : str
        What the parameter does, in one sentence.
    unit : str or None
        Unit of a numeric value (``days``, ``months``, ``years``, ``cm``, ``mm``, ``IU/mL``...).
    minimum, maximum : float or str or None
        Allowed range (dates as ISO strings); ``None`` is unbounded.
    minimum_inclusive, maximum_inclusive : bool
        Whether the bound itself is allowed.
    choices : tuple of str or None
        Allowed values of a ``choice``.
    drives : tuple of str
        The models or analyses whose results depend on it.
    cli : str or None
        The ``analyze`` option that sets it (analysis parameters), e.g. ``--age-cut``; a boolean's
        option may name its off switch after a slash (``--sensitivity-analyses/--paper-only``),
        else it is ``--no-<name>``.
    aliases : tuple of str
        Older option names kept working.
    nullable : bool
        Whether ``None`` is an allowed value (an option that can be switched off).
    """

    name: str
    scope: str
    type: str
    default: Any
    meaning: str
    unit: str | None = None
    minimum: float | str | None = None
    maximum: float | str | None = None
    minimum_inclusive: bool = True
    maximum_inclusive: bool = True
    choices: tuple[str, ...] | None = None
    drives: tuple[str, ...] = ()
    cli: str | None = None
    aliases: tuple[str, ...] = ()
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.scope not in ("refresh", "analysis"):
            raise ValueError(f"{self.name}: scope must be refresh or analysis")
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: type must be one of {TYPES}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"{self.name}: a choice needs choices")
        self.check(self.default)

    # -- validation -----------------------------------------------------------------------

    @property
    def range_text(self) -> str:
        """The allowed values in words (``> 0``, ``0 .. 1``, ``one of a, b``)."""
        if self.type == "choice":
            return "one of " + ", ".join(self.choices or ())
        if self.type == "boolean":
            return "true or false"
        if self.type == "text_list":
            return "names"
        lo, hi = self.minimum, self.maximum
        if lo is None and hi is None:
            return "any"
        if hi is None:
            return f"{'>=' if self.minimum_inclusive else '>'} {_fmt(lo)}"
        if lo is None:
            return f"{'<=' if self.maximum_inclusive else '<'} {_fmt(hi)}"
        left = "[" if self.minimum_inclusive else "("
        right = "]" if self.maximum_inclusive else ")"
        return f"{left}{_fmt(lo)}, {_fmt(hi)}{right}"

    def parse(self, text: str) -> Any:
        """Read a value given on the command line (``--var NAME=TEXT``) and check it.

        Raises
        ------
        UsageError
            The text is not of the parameter's type, or the value is out of range.
        """
        text = text.strip()
        if self.nullable and text.lower() in ("none", "null", ""):
            return None
        try:
            value = _convert(self.type, text)
        except ValueError:
            raise UsageError(
                f"parameter {self.name} takes {_article(self.type)} ({self.range_text}), not that value; "
                f"see `rait-registry params`."
            ) from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Check an already typed value (a config field, a YAML var); return it normalised."""
        if value is None:
            if self.nullable:
                return None
            raise UsageError(f"parameter {self.name} needs a value ({self.range_text}); see `rait-registry params`.")
        try:
            value = _coerce(self.type, value)
        except (TypeError, ValueError):
            raise UsageError(
                f"parameter {self.name} takes {_article(self.type)} ({self.range_text}), not a {type(value).__name__}; "
                "see `rait-registry params`."
            ) from None
        if self.type == "choice":
            if value not in (self.choices or ()):
                raise UsageError(f"parameter {self.name} must be {self.range_text}; see `rait-registry params`.")
            return value
        items = value if self.type in ("number_list", "text_list") else [value]
        for item in items:
            if not self._in_range(item):
                unit = f" {self.unit}" if self.unit else ""
                raise UsageError(f"parameter {self.name} must be {self.range_text}{unit}; see `rait-registry params`.")
        return value

    def _in_range(self, value: Any) -> bool:
        if self.type in ("boolean", "text_list"):
            return True
        lo, hi = self.minimum, self.maximum
        if self.type == "date":
            lo = dt.date.fromisoformat(lo) if isinstance(lo, str) else lo
            hi = dt.date.fromisoformat(hi) if isinstance(hi, str) else hi
        elif isinstance(value, float) and not math.isfinite(value):
            return False
        if lo is not None and (value < lo if self.minimum_inclusive else value <= lo):
            return False
        return not (hi is not None and (value > hi if self.maximum_inclusive else value >= hi))

    def to_dict(self) -> dict[str, Any]:
        """The declaration as plain JSON values (``rait-registry params --format json``)."""
        return {
            "name": self.name,
            "scope": self.scope,
            "type": self.type,
            "unit": self.unit,
            "range": self.range_text,
            "default": _jsonable(self.default),
            "meaning": self.meaning,
            "drives": list(self.drives),
            "cli": self.cli,
        }


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _article(type_: str) -> str:
    return {
        "integer": "a whole number",
        "number": "a number",
        "date": "a date YYYY-MM-DD",
        "choice": "a choice",
        "boolean": "true or false",
        "number_list": "a comma-separated list of numbers",
        "text_list": "a comma-separated list of names",
    }[type_]


def _convert(type_: str, text: str) -> Any:
    if type_ == "integer":
        number = float(text)
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    if type_ == "number":
        return float(text)
    if type_ == "date":
        return dt.date.fromisoformat(text.strip('"'))
    if type_ == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(text)
        return lowered == "true"
    if type_ == "number_list":
        items = [item for item in text.strip("[]() ").split(",") if item.strip()]
        return tuple(float(item) for item in items)
    if type_ == "text_list":
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def _coerce(type_: str, value: Any) -> Any:
    if isinstance(value, str) and type_ != "choice":
        return _convert(type_, value)
    if type_ == "integer":
        if isinstance(value, bool) or not float(value).is_integer():
            raise ValueError(value)
        return int(value)
    if type_ == "number":
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if type_ == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if not isinstance(value, dt.date):
            raise TypeError(value)
        return value
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if type_ == "number_list":
        return tuple(float(item) for item in value)
    if type_ == "text_list":
        if not all(isinstance(item, str) for item in value):
            raise TypeError(value)
        return tuple(value)
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


# ---------------------------------------------------------------------------------------------
# The declaration
# ---------------------------------------------------------------------------------------------

_R = "refresh"
_A = "analysis"

PARAMETERS: tuple[Parameter, ...] = (
    # -- derivation rules (dbt vars) ---------------------------------------------------------
    Parameter(
        name="synchronous_window_days",
        scope=_R,
        type="integer",
        default=365,
        meaning="Lung metastases found at most this long after diagnosis are synchronous, later ones metachronous.",
        unit="days",
        minimum=0,
        drives=("int_patients__metastasis_timing", "ata_risk"),
    ),
    Parameter(
        name="local_disease_window_days",
        scope=_R,
        type="integer",
        default=365,
        meaning="Local disease confirmed at most this long after the anchor (initial operation, else diagnosis) "
        "is persistent, later recurrent.",
        unit="days",
        minimum=0,
        drives=("int_patients__local_disease_status",),
    ),
    Parameter(
        name="ata_window_days",
        scope=_R,
        type="integer",
        default=365,
        meaning="The ATA initial risk reads the operations dated from diagnosis to diagnosis + this.",
        unit="days",
        minimum=0,
        drives=("int_patients__ata_risk",),
    ),
    Parameter(
        name="tgab_positive_cutoff",
        scope=_R,
        type="number",
        default=115.0,
        meaning="TgAb positivity cut-off used when a TgAb row carries none; a positive or indeterminate TgAb makes "
        "that day's Tg not interpretable.",
        unit="IU/mL",
        minimum=0,
        minimum_inclusive=False,
        drives=("int_lab_results__tsh_tgab_classified", "ingest TgAb-positive count"),
    ),
    Parameter(
        name="stimulated_tsh_min",
        scope=_R,
        type="number",
        default=30.0,
        meaning="A Tg is stimulated when a same-day TSH is at least this (a TSH reported <X never is; >X when X is "
        "at least this).",
        unit="mIU/L",
        minimum=0,
        minimum_inclusive=False,
        drives=("int_lab_results__tsh_tgab_classified", "int_lab_results__tg_classified"),
    ),
    Parameter(
        name="tg_pre_window_days",
        scope=_R,
        type="integer",
        default=30,
        meaning="tg_pre is the latest stimulated interpretable Tg in [admin - this, admin].",
        unit="days",
        minimum=0,
        drives=("int_rait_cycles__thyroglobulin",),
    ),
    Parameter(
        name="tg_post_min_days",
        scope=_R,
        type="integer",
        default=90,
        meaning="The last cycle's tg_post and DxWBS window opens this long after the administration.",
        unit="days",
        minimum=0,
        drives=("int_rait_cycles__thyroglobulin", "int_rait_cycles__scan_change"),
    ),
    Parameter(
        name="tg_post_max_days",
        scope=_R,
        type="integer",
        default=730,
        meaning="The last cycle's tg_post and DxWBS window closes this long after the administration.",
        unit="days",
        minimum=1,
        drives=("int_rait_cycles__thyroglobulin", "int_rait_cycles__scan_change"),
    ),
    Parameter(
        name="rxwbs_window_days",
        scope=_R,
        type="integer",
        default=14,
        meaning="Findings within this of a RAIT belong to its post-therapy scan: baseline for the first RAIT, "
        "and the evaluation of the previous cycle for later ones.",
        unit="days",
        minimum=0,
        maximum=90,
        drives=(
            "int_imaging_findings__new_lesion_events",
            "int_rait_cycles__evaluation_windows",
            "int_patients__lung_only_micromets",
            "int_patients__avid_on_every_rxwbs",
            "int_patients__mets_after_first_rait",
            "int_patients__baseline_cutoff",
            "int_patients__lung_only_micromets_at_baseline",
            "int_patients__avid_on_every_rxwbs_at_baseline",
        ),
    ),
    Parameter(
        name="tg_response_threshold",
        scope=_R,
        type="number",
        default=0.25,
        meaning="A cycle is a partial response when the relative Tg decline delta_tg is at least this.",
        unit="fraction",
        minimum=0,
        maximum=1,
        minimum_inclusive=False,
        drives=("int_rait_cycles__response", "int_rait_cycles__response_at_horizon"),
    ),
    Parameter(
        name="cr_tg_max",
        scope=_R,
        type="number",
        default=1.0,
        meaning="A cycle is a complete response only when tg_post is below this (an exact value < this, or "
        "reported <X with X <= this) and the lung scan is resolved or absent (ATA 2015 threshold for a "
        "stimulated Tg).",
        unit="ng/mL",
        minimum=0,
        minimum_inclusive=False,
        drives=("int_rait_cycles__response", "int_rait_cycles__response_at_horizon"),
    ),
    Parameter(
        name="pfs_censoring",
        scope=_R,
        type="choice",
        default="last_assessment",
        meaning="Where PFS without an event is censored: last_assessment (the latest imaging study from the "
        "first RAIT to last contact) or last_contact (revision 1); marts.pfs.pfs_months follows it, "
        "pfs_months_last_contact is always published.",
        choices=("last_assessment", "last_contact"),
        drives=("int_patients__pfs",),
    ),
    Parameter(
        name="surgery_date_min",
        scope=_R,
        type="date",
        default=dt.date(2000, 1, 1),
        meaning="Eligibility step 1: the thyroidectomy is dated on or after this.",
        minimum="1900-01-01",
        maximum="2100-12-31",
        drives=("int_patients__dtc_surgery", "int_patients__dtc_surgery_at_baseline"),
    ),
    Parameter(
        name="surgery_date_max",
        scope=_R,
        type="date",
        default=dt.date(2022, 12, 31),
        meaning="Eligibility step 1: the thyroidectomy is dated on or before this.",
        minimum="1900-01-01",
        maximum="2100-12-31",
        drives=("int_patients__dtc_surgery", "int_patients__dtc_surgery_at_baseline"),
    ),
    Parameter(
        name="micromet_max_mm",
        scope=_R,
        type="number",
        default=10.0,
        meaning="Eligibility step 2: every lung lesion measured in the baseline period is smaller than this.",
        unit="mm",
        minimum=0,
        minimum_inclusive=False,
        drives=("int_patients__lung_only_micromets", "int_patients__lung_only_micromets_at_baseline"),
    ),
    Parameter(
        name="early_pd_exclusion_days",
        scope=_R,
        type="integer",
        default=183,
        meaning="Exclusion step 6: a new-lesion event at most this long after a cycle's administration "
        "(after the first RAIT only, for is_eligible_at_baseline).",
        unit="days",
        minimum=0,
        drives=("int_patients__early_progression", "int_patients__early_progression_at_baseline"),
    ),
    Parameter(
        name="response_horizon_months",
        scope=_R,
        type="integer",
        default=12,
        meaning="response_at_horizon judges each cycle on the evidence dated up to its administration + this: "
        "the evaluation window, tg_post and scan_change are cut there, so cycles are compared over windows "
        "of the same length.",
        unit="months",
        minimum=1,
        maximum=120,
        drives=("int_rait_cycles__response_at_horizon",),
    ),
    # -- analysis options ---------------------------------------------------------------------
    Parameter(
        name="test_rule",
        scope=_A,
        type="choice",
        default="pearson_yates_fisher",
        meaning="Categorical test of Tables 1-2: Pearson chi-square without correction when every expected count "
        "is >= 5, otherwise pearson_yates_fisher (revision 2, the paper's rule): Yates-corrected chi-square for a "
        "2x2 table and exact Fisher for a larger one; pearson_fisher (revision 1): exact Fisher for every such "
        "table. results.json carries every test's p-value whichever one the table reports.",
        choices=("pearson_yates_fisher", "pearson_fisher"),
        drives=("table1", "table2"),
        cli="--test-rule",
    ),
    Parameter(
        name="age_cut_years",
        scope=_A,
        type="number",
        default=45.0,
        meaning="Age at diagnosis is dichotomised at >= this in Table 3 and the subgroup analyses.",
        unit="years",
        minimum=0,
        maximum=120,
        minimum_inclusive=False,
        drives=("logistic", "survival.subgroups"),
        cli="--age-cut",
    ),
    Parameter(
        name="size_cut_cm",
        scope=_A,
        type="number",
        default=4.0,
        meaning="Tumour size is dichotomised at > this in Table 3 and the subgroup analyses.",
        unit="cm",
        minimum=0,
        maximum=20,
        minimum_inclusive=False,
        drives=("logistic", "survival.subgroups"),
        cli="--size-cut",
    ),
    Parameter(
        name="selection_threshold",
        scope=_A,
        type="number",
        default=0.1,
        meaning="A characteristic with a univariable p below this enters the multivariable logistic model.",
        minimum=0,
        maximum=1,
        minimum_inclusive=False,
        drives=("logistic",),
        cli="--selection-threshold",
    ),
    Parameter(
        name="matching_covariates",
        scope=_A,
        type="text_list",
        default=("age_at_diagnosis_years", "local_persistent_disease", "follow_up_months"),
        meaning="Covariates of the matching's propensity model: cohort columns, local_persistent_disease, "
        "or column==value indicators.",
        drives=("matching", "survival.matched", "survival.subgroups", "sensitivity.matching"),
        cli="--matching-covariates",
    ),
    Parameter(
        name="caliper",
        scope=_A,
        type="number",
        default=0.05,
        meaning="Propensity-score matching caliper (on the scale of caliper_scale).",
        minimum=0,
        minimum_inclusive=False,
        drives=("matching", "survival.matched", "survival.subgroups"),
        cli="--caliper",
        nullable=True,
    ),
    Parameter(
        name="caliper_scale",
        scope=_A,
        type="choice",
        default="propensity",
        meaning="propensity: the caliper is in propensity units; logit_sd: in SDs of the logit of the propensity.",
        choices=("propensity", "logit_sd"),
        drives=("matching",),
        cli="--caliper-scale",
    ),
    Parameter(
        name="matching_order",
        scope=_A,
        type="choice",
        default="largest",
        meaning="Order in which o-RAIT patients pick their match: largest propensity first (MatchIt's default) "
        "or random (seeded by random_state).",
        choices=("largest", "random"),
        drives=("matching",),
        cli="--matching-order",
    ),
    Parameter(
        name="random_state",
        scope=_A,
        type="integer",
        default=None,
        meaning="Seed of the random matching order.",
        minimum=0,
        drives=("matching",),
        cli="--random-state",
        nullable=True,
    ),
    Parameter(
        name="centre_in_matching",
        scope=_A,
        type="choice",
        default="no",
        meaning="How the matching treats the centre (marts.analysis_cohort.center_id): no (ignored), propensity "
        "(a term of the propensity model) or within_centre (pairs only inside a centre, MatchIt exact = ~centre).",
        choices=("no", "propensity", "within_centre"),
        drives=("matching", "survival.matched", "survival.subgroups", "centres"),
        cli="--centre-in-matching",
    ),
    Parameter(
        name="smd_threshold",
        scope=_A,
        type="number",
        default=0.1,
        meaning="A baseline covariate (level) whose absolute standardised mean difference exceeds this is "
        "flagged as imbalanced, before and after matching.",
        minimum=0,
        minimum_inclusive=False,
        drives=("matching.balance_baseline",),
        cli="--smd-threshold",
    ),
    Parameter(
        name="subgroup_cohort",
        scope=_A,
        type="choice",
        default="matched",
        meaning="Cohort of the Fig. 4 subgroup analyses: the matched cohort (as the paper) or all eligible patients.",
        choices=("matched", "eligible"),
        drives=("survival.subgroups",),
        cli="--subgroup-cohort",
    ),
    Parameter(
        name="subgroup_min_patients",
        scope=_A,
        type="integer",
        default=5,
        meaning="A Fig. 4 panel reports no hazard ratio when one of its arms has fewer patients than this "
        "(the reason is given instead; the curves are still drawn).",
        minimum=1,
        drives=("survival.subgroups",),
        cli="--subgroup-min-patients",
    ),
    Parameter(
        name="subgroup_min_events",
        scope=_A,
        type="integer",
        default=5,
        meaning="A Fig. 4 panel reports no hazard ratio when it has fewer progression events than this.",
        minimum=1,
        drives=("survival.subgroups",),
        cli="--subgroup-min-events",
    ),
    Parameter(
        name="sensitivity_analyses",
        scope=_A,
        type="boolean",
        default=True,
        meaning="Also run the sensitivity analyses: landmark, time-varying Cox, non-inferiority, matching "
        "variants, IPTW, E-values and dose-response.",
        drives=("landmark", "time_varying_cox", "non_inferiority", "sensitivity", "dose_response"),
        cli="--sensitivity-analyses/--paper-only",
        aliases=("--beyond",),
    ),
    Parameter(
        name="alpha",
        scope=_A,
        type="number",
        default=0.05,
        meaning="1 - the confidence level of every reported interval (two-sided).",
        minimum=0,
        maximum=0.5,
        minimum_inclusive=False,
        maximum_inclusive=False,
        drives=("sensitivity", "strategies"),
        cli="--alpha",
    ),
    Parameter(
        name="ph_test_alpha",
        scope=_A,
        type="number",
        default=0.05,
        meaning="The report warns where a proportional-hazards test (R cox.zph, per term or global) of a "
        "reported Cox model has a p-value below this.",
        minimum=0,
        maximum=0.5,
        minimum_inclusive=False,
        maximum_inclusive=False,
        drives=("proportional_hazards",),
        cli="--ph-test-alpha",
    ),
    Parameter(
        name="horizon_months",
        scope=_A,
        type="number",
        default=60.0,
        meaning="Time of the PFS comparison (5-year PFS).",
        unit="months",
        minimum=0,
        minimum_inclusive=False,
        drives=("sensitivity", "strategies"),
        cli="--horizon-months",
    ),
    Parameter(
        name="landmark_months",
        scope=_A,
        type="number",
        default=12.0,
        meaning="Landmark of the immortal-time analysis: patients are grouped by the cycles received by then.",
        unit="months",
        minimum=0,
        minimum_inclusive=False,
        drives=("landmark",),
        cli="--landmark-months",
    ),
    Parameter(
        name="landmark_sensitivity_months",
        scope=_A,
        type="number_list",
        default=(6.0, 18.0, 24.0),
        meaning="Further landmarks of the landmark analysis' sensitivity table.",
        unit="months",
        minimum=0,
        minimum_inclusive=False,
        drives=("landmark",),
        cli="--landmark-sensitivity-months",
    ),
    Parameter(
        name="adjust_covariates",
        scope=_A,
        type="text_list",
        default=("age_at_diagnosis_years", "local_persistent_disease"),
        meaning="Baseline covariates of the adjusted Cox models (landmark, time-varying, dose-response); "
        "patients missing one are left out of those models only; none: no adjusted models.",
        drives=("landmark", "time_varying_cox", "dose_response"),
        cli="--adjust-covariates",
    ),
    Parameter(
        name="ni_hr_margin",
        scope=_A,
        type="number",
        default=1.5,
        meaning="Non-inferiority margin for the hazard ratio of o-RAIT versus m-RAIT: the primary margin, from which "
        "the 5-year PFS-difference margin is derived (S_m^M - S_m at the m-RAIT 5-year PFS S_m).",
        minimum=1,
        minimum_inclusive=False,
        drives=("non_inferiority",),
        cli="--ni-hr-margin",
    ),
    Parameter(
        name="ni_pfs_margin",
        scope=_A,
        type="number",
        default=None,
        meaning="Non-inferiority margin for the 5-year PFS difference, o-RAIT minus m-RAIT, given instead of the one "
        "derived from the HR margin (reported beside it, with a warning when looser); none: derived.",
        unit="fraction",
        minimum=0,
        maximum=1,
        minimum_inclusive=False,
        maximum_inclusive=False,
        drives=("non_inferiority",),
        cli="--ni-pfs-margin",
        nullable=True,
    ),
    Parameter(
        name="ni_margins_prespecified",
        scope=_A,
        type="boolean",
        default=False,
        meaning="Declare the non-inferiority margins prespecified (fixed before the data were seen); otherwise every "
        "sentence calls them not prespecified.",
        drives=("non_inferiority",),
        cli="--ni-margins-prespecified",
    ),
    Parameter(
        name="ni_alpha",
        scope=_A,
        type="number",
        default=0.025,
        meaning="One-sided significance level of the non-inferiority tests.",
        minimum=0,
        maximum=0.5,
        minimum_inclusive=False,
        maximum_inclusive=False,
        drives=("non_inferiority",),
        cli="--ni-alpha",
    ),
    Parameter(
        name="iptw_estimand",
        scope=_A,
        type="choice",
        default="ATE",
        meaning="Estimand of the propensity weighting: ATE (everyone) or ATT (o-RAIT as target, like the matching).",
        choices=("ATE", "ATT"),
        drives=("sensitivity.iptw",),
        cli="--iptw-estimand",
    ),
    Parameter(
        name="iptw_covariates",
        scope=_A,
        type="text_list",
        default=("age_at_diagnosis_years", "local_persistent_disease"),
        meaning="Covariates of the weighting's propensity model (baseline only: follow-up time is not).",
        drives=("sensitivity.iptw",),
        cli="--iptw-covariates",
    ),
    Parameter(
        name="iptw_stabilized",
        scope=_A,
        type="boolean",
        default=True,
        meaning="Multiply ATE weights by the marginal group proportion.",
        drives=("sensitivity.iptw",),
        cli="--iptw-stabilized",
    ),
    Parameter(
        name="evalue_rare_outcome",
        scope=_A,
        type="boolean",
        default=None,
        meaning="E-values: take each hazard ratio as a risk ratio (true, rare outcome) or transform it (false); "
        "none: decided per analysis, rare when the Kaplan-Meier cumulative incidence at the end is below 15%.",
        drives=("sensitivity.e_values",),
        cli="--evalue-rare-outcome",
        nullable=True,
    ),
    Parameter(
        name="dose_reference_gbq",
        scope=_A,
        type="number",
        default=5.55,
        meaning="Reference cumulative activity of the dose-response hazard-ratio curve.",
        unit="GBq",
        minimum=0,
        minimum_inclusive=False,
        drives=("dose_response",),
        cli="--dose-reference-gbq",
    ),
    Parameter(
        name="dose_spline_df",
        scope=_A,
        type="integer",
        default=3,
        meaning="Degrees of freedom of the natural spline of cumulative activity (1: linear).",
        minimum=1,
        maximum=10,
        drives=("dose_response",),
        cli="--dose-spline-df",
    ),
    Parameter(
        name="dose_grid_points",
        scope=_A,
        type="integer",
        default=25,
        meaning="Points of the dose-response curve between the 5th and 95th percentile of cumulative activity.",
        minimum=2,
        maximum=1000,
        drives=("dose_response",),
        cli="--dose-grid-points",
    ),
    Parameter(
        name="trial_hr_margin",
        scope=_A,
        type="number",
        default=1.5,
        meaning="Hazard-ratio margin of the prospective non-inferiority trial designed from the registry "
        "(surveillance versus repeated RAIT, PFS): the design the report reads out.",
        minimum=1,
        minimum_inclusive=False,
        drives=("trial_design",),
        cli="--trial-hr-margin",
    ),
    Parameter(
        name="trial_margins",
        scope=_A,
        type="number_list",
        default=(1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0),
        meaning="Hazard-ratio margins of the trial-design table (events and patients needed at each).",
        minimum=1,
        minimum_inclusive=False,
        drives=("trial_design",),
        cli="--trial-margins",
    ),
    Parameter(
        name="trial_alpha",
        scope=_A,
        type="number",
        default=0.025,
        meaning="One-sided significance level of the designed non-inferiority trial.",
        minimum=0,
        maximum=0.5,
        minimum_inclusive=False,
        maximum_inclusive=False,
        drives=("trial_design",),
        cli="--trial-alpha",
    ),
    Parameter(
        name="trial_powers",
        scope=_A,
        type="number_list",
        default=(0.8, 0.9),
        meaning="Powers of the designed trial, each a column of the trial-design table.",
        minimum=0.5,
        maximum=1,
        maximum_inclusive=False,
        drives=("trial_design",),
        cli="--trial-powers",
    ),
    Parameter(
        name="trial_follow_up_years",
        scope=_A,
        type="number",
        default=3.0,
        meaning="Follow-up of the designed trial after its last patient is enrolled (accrual is uniform before it).",
        unit="years",
        minimum=0,
        drives=("trial_design",),
        cli="--trial-follow-up-years",
    ),
    Parameter(
        name="trial_hazard_source",
        scope=_A,
        type="choice",
        default="person_time",
        meaning="The registry's PFS hazard the trial design assumes (exponential PFS): progression events per "
        "person-year of the analysed cohort (person_time), or -log of its Kaplan-Meier PFS at horizon_months "
        "divided by that horizon (pfs_horizon).",
        choices=("person_time", "pfs_horizon"),
        drives=("trial_design",),
        cli="--trial-hazard-source",
    ),
    Parameter(
        name="grace_months",
        scope=_A,
        type="integer",
        default=12,
        meaning="Target-trial emulation: a second RAIT within this many months of the first follows the "
        "'second RAIT' strategy; a clone of that strategy without one is censored here.",
        unit="months",
        minimum=1,
        maximum=120,
        drives=("strategies",),
        cli="--grace-months",
    ),
    Parameter(
        name="strategy_weight_truncation",
        scope=_A,
        type="number",
        default=99.9,
        meaning="Target-trial emulation: percentile of the stabilised censoring weights (over the clone-months "
        "of both arms) above which a weight is set to that percentile; 100: none. At 99.9 the calibration "
        "simulation's estimate is as unbiased as without truncation, at 99.5 and 99 the deadline weights of "
        "the second-RAIT arm are cut and the estimate is biased (docs/strategies.md).",
        unit="percentile",
        minimum=50,
        maximum=100,
        drives=("strategies",),
        cli="--strategy-weight-truncation",
    ),
    Parameter(
        name="bootstrap",
        scope=_A,
        type="integer",
        default=500,
        meaning="Target-trial emulation: bootstrap replicates (patients resampled, censoring model refitted "
        "in each) of the percentile 95% CIs; 0: a robust (sandwich) CI instead, for large registries.",
        minimum=0,
        maximum=100000,
        drives=("strategies",),
        cli="--bootstrap",
    ),
    Parameter(
        name="bootstrap_seed",
        scope=_A,
        type="integer",
        default=20240601,
        meaning="Target-trial emulation: seed of the bootstrap (numpy Generator), so a rerun gives the same CIs.",
        minimum=0,
        drives=("strategies",),
        cli="--bootstrap-seed",
    ),
)

_BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
if len(_BY_NAME) != len(PARAMETERS):  # pragma: no cover - a declaration error
    raise RuntimeError("a study parameter is declared twice")

#: The derivation rules' parameters (dbt vars), in declaration order.
REFRESH_PARAMETERS: tuple[Parameter, ...] = tuple(p for p in PARAMETERS if p.scope == "refresh")
#: The analysis options, in declaration order.
ANALYSIS_PARAMETERS: tuple[Parameter, ...] = tuple(p for p in PARAMETERS if p.scope == "analysis")


def get(name: str) -> Parameter:
    """The declaration of one parameter (`UsageError` listing the valid names when unknown)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(_unknown(name, PARAMETERS)) from None


def defaults(scope: str) -> dict[str, Any]:
    """``{name: default}`` of one scope (``refresh`` or ``analysis``)."""
    return {p.name: p.default for p in PARAMETERS if p.scope == scope}


def dbt_vars_defaults() -> dict[str, Any]:
    """The dbt vars with their defaults as ``dbt_project.yml`` writes them (dates as ISO text)."""
    return {p.name: _jsonable(p.default) for p in REFRESH_PARAMETERS}


def _unknown(name: str, among: Iterable[Parameter]) -> str:
    names = [p.name for p in among]
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"unknown study parameter {name!r}.{hint} Valid parameters: {', '.join(names)} (`rait-registry params`)."


def parse_var_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``--var NAME=VALUE`` items against the declaration; return ``{name: typed value}``.

    Raises
    ------
    UsageError
        An item without ``=``, an unknown or analysis-only name, a value of the wrong type or
        out of range. Nothing has been done when it is raised (exit code 2).
    """
    parsed: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--var expects NAME=VALUE, got a bare name; valid names: {_names(REFRESH_PARAMETERS)}.")
        name, text = (part.strip() for part in item.split("=", 1))
        parameter = _BY_NAME.get(name)
        if parameter is None or parameter.scope != "refresh":
            if parameter is not None:
                raise UsageError(
                    f"{name} is an analysis option, not a derivation rule: pass {parameter.cli} to "
                    "`rait-registry analyze` instead of --var."
                )
            raise UsageError(_unknown(name, REFRESH_PARAMETERS))
        try:
            parsed[name] = parameter.parse(text)
        except UsageError as exc:
            raise UsageError(f"{exc} Valid parameters: {_names(REFRESH_PARAMETERS)}.") from None
    return parsed


def check_values(values: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """Check typed values of one scope (a config, recorded vars); return them normalised."""
    declared = {p.name: p for p in PARAMETERS if p.scope == scope}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in declared:
            raise UsageError(_unknown(name, declared.values()))
        out[name] = declared[name].check(value)
    return out


def dbt_vars_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed refresh values as dbt receives them (``--vars`` JSON: dates as ISO text)."""
    return {name: _jsonable(value) for name, value in values.items()}


def _names(params: Iterable[Parameter]) -> str:
    return ", ".join(p.name for p in params)


def table(scope: str | None = None) -> list[dict[str, Any]]:
    """The declaration as rows (name, scope, type, unit, range, default, meaning, drives, cli)."""
    return [p.to_dict() for p in PARAMETERS if scope is None or p.scope == scope]
