"""The rules of the mart models (``schemas/marts.py``) stated as SQL: the SQL engine of
:func:`rait_registry.mart_checks.validate_marts`.

The pandera models stay the single statement of the rules. From them this module generates, at
import, the SQL of every field check (``nullable``, ``unique``, ``Config.unique``, ``isin``,
ranges, ...; a check without a translation raises here) and takes, for every
``@pa.dataframe_check``, its hand-written SQL twin from :data:`SQL_CHECKS` (same name, the pandas
semantics reproduced, NULLs included). :func:`rait_registry.mart_checks.validate_marts` evaluates
them in DuckDB for marts too large for pandas; ``tests/test_schemas.py`` asserts that both engines
report the same failures on every rule broken on purpose and on hundreds of random breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandera.pandas as pa

from .contract import EARLY_T_STAGES
from .schemas.marts import (
    ABS_TOL,
    CRITERIA,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    MART_MODELS,
    MET_WHEN_TRUE,
    RESPONSE_BASES,
    T_STAGE_GROUPS,
)

# -- SQL twins of the dataframe checks ----------------------------------------------------------
#
# Each expression is TRUE when a row passes; it is evaluated over the CTE ``mart_rows`` (the mart,
# NaN turned into NULL, plus ``_mart_row``: the 0-based row in key order) and a row fails when it is
# not TRUE. The twins reproduce the pandas semantics of the models (schemas/marts.py), NULLs included: a pandas comparison with
# NaN/NaT/None is False (``!=`` is True), ``_same`` treats missing == missing, ``_close`` is
# ``|a - b| <= 1e-3 + rel*|b|`` or both missing, ``groupby`` leaves out rows whose ``patient_id``
# is missing, and a ``sort_values`` tie keeps the frame order (``_mart_row``). They assume every
# column they name exists: a mart that lacks one is validated with pandas.
# tests/test_schemas.py asserts that both engines report the same failures on many broken marts.


def sql_literal(value: object) -> str:
    """A Python value as a SQL literal (floats exactly as Python parses them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"cast('{float(value)!r}' as double)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}; extend rait_registry/mart_sql.py::sql_literal")


_lit = sql_literal


def _in(column: str, values) -> str:
    """pandas ``isin``: False for a missing value."""
    return f"coalesce({column} in ({', '.join(_lit(v) for v in values)}), false)"


def _is(column: str, value: object) -> str:
    """pandas ``==`` with a scalar: False for a missing value."""
    return f"coalesce({column} = {_lit(value)}, false)"


def _sql_same(a: str, b: str) -> str:
    """SQL twin of :func:`_same`."""
    return f"({a} is not distinct from {b})"


def _sql_close(a: str, b: str, rel: float = 1e-5) -> str:
    """SQL twin of :func:`_close`."""
    return (
        f"(({a}) is null and ({b}) is null "
        f"or coalesce(abs(({a}) - ({b})) <= {_lit(ABS_TOL)} + {_lit(rel)} * abs({b}), false))"
    )


def _sql_days(start: str, end: str) -> str:
    """``(end - start).dt.days`` for DATE columns."""
    return f"date_diff('day', {start}, {end})"


def _sql_group_for(n: str) -> str:
    """SQL twin of :func:`_group_for`."""
    return f"(case when {n} = 1 then 'o-RAIT' when {n} >= 2 then 'm-RAIT' end)"


def _sql_expected_exclusion() -> str:
    """SQL twin of :func:`_expected_exclusion` (a missing flag counts as false)."""
    whens = " ".join(
        f"when {'not ' if c in MET_WHEN_TRUE else ''}coalesce({c}, false) then {_lit(c)}" for c in CRITERIA
    )
    return f"(case {whens} end)"


def _all(*conditions: str) -> str:
    return "(" + "\n      and ".join(f"({c})" for c in conditions) + ")"


_BY_CYCLE = "over (partition by patient_id order by cycle_number, _mart_row)"
_IN_PATIENT = "patient_id is not null"  # pandas groupby drops rows with a missing key
_PREVIOUS_DATE = f"(case when {_IN_PATIENT} then lag(admin_date) {_BY_CYCLE} end)"
_N_CYCLES = f"(case when {_IN_PATIENT} then count(*) over (partition by patient_id) end)"
_FOLLOW_UP_END = "coalesce(death_date, last_contact_date)"

#: mart -> dataframe check name -> SQL expression, TRUE when the row passes (see above).
SQL_CHECKS: dict[str, dict[str, str]] = {
    "patients": {
        "exclusion_reason_is_first_failing_criterion": _sql_same("exclusion_reason", _sql_expected_exclusion()),
        "is_eligible_iff_no_exclusion_reason": "is_eligible = (exclusion_reason is null)",
        "is_eligible_at_baseline_iff_no_baseline_exclusion_reason": (
            "is_eligible_at_baseline = (baseline_exclusion_reason is null)"
        ),
        "exclusion_step_matches_reason": _sql_same(
            "exclusion_step",
            "(case exclusion_reason "
            + " ".join(f"when {_lit(c)} then {i + 1}" for i, c in enumerate(CRITERIA))
            + " end)",
        ),
        "rait_group_matches_n_rait_cycles": _sql_same("rait_group", _sql_group_for("n_rait_cycles")),
        "rait_fields_present_iff_rait": _all(
            *(
                f"(n_rait_cycles > 0) = ({column} is not null)"
                for column in (
                    "first_rait_date",
                    "cumulative_gbq",
                    "median_activity_gbq",
                    "first_response",
                    "last_response",
                )
            ),
            "local_disease_status is null or n_rait_cycles > 0",
        ),
        "o_rait_first_response_equals_last": f"n_rait_cycles <> 1 or {_sql_same('first_response', 'last_response')}",
        "rait_without_rxwbs_at_most_n_rait_cycles": "coalesce(n_rait_without_rxwbs <= n_rait_cycles, false)",
        "median_activity_at_most_cumulative": (
            f"coalesce(median_activity_gbq <= cumulative_gbq + {_lit(ABS_TOL)}, false) or cumulative_gbq is null"
        ),
        "t_stage_group_matches_t_stage_max": _sql_same(
            "t_stage_group",
            f"(case when t_stage_max is null then null when {_in('t_stage_max', EARLY_T_STAGES)} "
            f"then {_lit(T_STAGE_GROUPS[0])} else {_lit(T_STAGE_GROUPS[1])} end)",
        ),
        "metastasis_timing_needs_both_dates": (
            "(lung_met_date is not null and diagnosis_date is not null) = (metastasis_timing is not null)"
        ),
        "age_at_diagnosis_matches_dates": _sql_close(
            "age_at_diagnosis_years", f"{_sql_days('birth_date', 'diagnosis_date')} / {_lit(DAYS_PER_YEAR)}"
        ),
        "dates_in_order": _all(
            *(
                f"not coalesce({column} < birth_date, false)"
                for column in ("diagnosis_date", "initial_surgery_date", "first_rait_date", "lung_met_date")
            ),
            f"{_is('vital_status', 'dead')} = (death_date is not null)",
        ),
    },
    "rait_cycles": {
        "response_basis_consistent_with_response": "coalesce("
        + " or ".join(
            f"(response = {_lit(r)} and {_in('response_basis', bases)})" for r, bases in RESPONSE_BASES.items()
        )
        + ", false)",
        "response_evidence_present": _all(
            f"not ({_is('response', 'NE')} and (tg_post is not null or scan_change is not null))",
            f"not ({_is('response', 'SD')} and not (tg_post is not null or scan_change is not null))",
            f"not ({_is('response_basis', 'tg_decline')} and delta_tg is null)",
            f"not ({_is('response_basis', 'scan_reduction')} and not {_in('scan_change', ['reduced', 'resolved'])})",
            f"not ({_is('response', 'CR')} and not {_in('scan_change', ['resolved', 'absent'])})",
            f"not ({_is('response', 'CR')} and (tg_post is null or {_is('tg_post_comparator', '>')}))",
            f"{_is('response', 'PD')} = (n_new_lesion_events > 0)",
        ),
        "pd_at_horizon_only_if_pd": f"not ({_is('response_at_horizon', 'PD')} and not {_is('response', 'PD')})",
        "delta_tg_matches_tg_pre_and_tg_post": _sql_close(
            "delta_tg",
            "(case when tg_pre > 0 and tg_post is not null and tg_pre_comparator is null "
            "and coalesce(tg_post_comparator <> '>', true) then (tg_pre - tg_post) / tg_pre end)",
        ),
        "cycles_numbered_1_to_n_in_date_order": _all(
            _IN_PATIENT,
            f"cycle_number = row_number() {_BY_CYCLE}",
            f"not coalesce(admin_date < {_PREVIOUS_DATE}, false)",
            _sql_same("days_since_previous", _sql_days(_PREVIOUS_DATE, "admin_date")),
            f"n_rait_cycles = {_N_CYCLES}",
            f"is_last_cycle = (cycle_number = {_N_CYCLES})",
        ),
        "cumulative_activity_adds_up_per_patient": _all(
            _sql_close(
                "cumulative_gbq",
                f"(case when {_IN_PATIENT} and activity_gbq is not null then sum(activity_gbq) "
                f"over (partition by patient_id order by cycle_number, _mart_row "
                f"rows between unbounded preceding and current row) end)",
                rel=1e-6,
            ),
            f"not coalesce({_IN_PATIENT} and cumulative_gbq <= lag(cumulative_gbq) {_BY_CYCLE}, false)",
        ),
        "window_end_not_before_start": "not coalesce(window_end_date < window_start_date, false)",
    },
    "pfs": {
        "end_date_not_before_start_date": "end_date >= start_date",
        "event_type_consistent_with_pfs_event": (
            f"{_is('pfs_event', 1)} = {_in('event_type', ['progression', 'death'])}"
        ),
        "pfs_months_matches_dates": _sql_close(
            "pfs_months", f"{_sql_days('start_date', 'end_date')} / {_lit(DAYS_PER_MONTH)}"
        ),
        "follow_up_not_shorter_than_pfs": f"follow_up_months + {_lit(ABS_TOL)} >= pfs_months",
        "end_date_is_the_event_or_censoring_date": _all(
            f"not ({_is('event_type', 'progression')} and not {_sql_same('end_date', 'pd_date')})",
            f"not ({_is('event_type', 'death')} and not {_sql_same('end_date', 'death_date')})",
            # the earlier of progression and death (least() skips NULLs like min(axis=1))
            f"not {_is('pfs_event', 1)} or {_sql_same('end_date', 'least(pd_date, death_date)')}",
            f"not ({_is('event_type', 'censored')} and not ({_sql_same('end_date', 'last_contact_date')} "
            f"or {_sql_same('end_date', 'last_assessment_date')}))",
            _sql_close("follow_up_months", f"{_sql_days('start_date', _FOLLOW_UP_END)} / {_lit(DAYS_PER_MONTH)}"),
        ),
        "pfs_months_last_contact_matches": _all(
            f"coalesce(pfs_months_last_contact + {_lit(ABS_TOL)} >= pfs_months, false)",
            f"coalesce(pfs_months_last_contact <= follow_up_months + {_lit(ABS_TOL)}, false)",
            f"not {_is('pfs_event', 1)} or {_sql_close('pfs_months_last_contact', 'pfs_months')}",
            f"not {_is('event_type', 'censored')} or "
            + _sql_close(
                "pfs_months_last_contact", f"{_sql_days('start_date', 'last_contact_date')} / {_lit(DAYS_PER_MONTH)}"
            ),
        ),
    },
    "analysis_cohort": {
        "rait_group_matches_n_rait_cycles": _sql_same("rait_group", _sql_group_for("n_rait_cycles")),
        # here pandas compares with ==: two missing responses are not equal
        "o_rait_first_response_equals_last": "n_rait_cycles <> 1 or first_response = last_response",
        "event_type_consistent_with_pfs_event": (
            f"{_is('pfs_event', 1)} = {_in('event_type', ['progression', 'death'])}"
        ),
        "end_date_not_before_start_date": "pfs_end_date >= pfs_start_date",
        "follow_up_not_shorter_than_pfs": f"follow_up_months + {_lit(ABS_TOL)} >= pfs_months",
        "median_activity_at_most_cumulative": f"median_activity_gbq <= cumulative_gbq + {_lit(ABS_TOL)}",
    },
    "cohort_attrition": {
        "criterion_matches_step": "criterion = (case step "
        + " ".join(f"when {i} then {_lit(c)}" for i, c in enumerate(["all_patients", *CRITERIA]))
        + " end)",
        "every_criterion_has_a_step": ("(select count(distinct step) from mart_rows where step between 1 and 6) = 6"),
        "n_remaining_is_previous_minus_excluded": _all(
            "lag(n_remaining) over (order by step, _mart_row) is null "
            "or n_remaining = lag(n_remaining) over (order by step, _mart_row) - n_excluded",
            "not (step = 0 and n_excluded <> 0)",
        ),
    },
    "strategy_evidence_monthly": {},  # field checks only; its row rules are dbt data tests
}


# -- field checks, generated from the models; the rules of each mart ---------------------------


_INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)
_FLOAT_TYPES = ("FLOAT", "REAL", "DOUBLE")
_DATETIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def dtype_family(dtype: object) -> str:
    """The family of a pandera column dtype: str, float, int, datetime or bool."""
    name = str(dtype)
    if name == "str":
        return "str"
    if name.startswith("float"):
        return "float"
    if name.lower().startswith(("int", "uint")):
        return "int"
    if name.startswith("datetime64"):
        return "datetime"
    if name.lower() in ("bool", "boolean"):
        return "bool"
    raise NotImplementedError(
        f"the SQL engine (mart_sql.py) knows no database type for the pandera dtype {name!r}; "
        "add it to mart_sql.dtype_family and TYPES"
    )


#: family -> (the database types it takes, as the failure names them; predicate; SQL type to try_cast others to)
TYPES = {
    "str": ("VARCHAR", lambda t: t == "VARCHAR", "VARCHAR"),
    "float": ("numeric", lambda t: t in _INTEGER_TYPES or t in _FLOAT_TYPES or t.startswith("DECIMAL"), "DOUBLE"),
    "int": ("an integer type", lambda t: t in _INTEGER_TYPES, "BIGINT"),
    "datetime": ("DATE or TIMESTAMP", lambda t: t in _DATETIME_TYPES, "TIMESTAMP"),
    "bool": ("BOOLEAN", lambda t: t == "BOOLEAN", "BOOLEAN"),
}


def element_check_sql(column: str, check: pa.Check) -> str:
    """SQL that is TRUE where ``column`` passes the pandera built-in ``check``.

    Raises
    ------
    NotImplementedError
        The check has no SQL translation (then the SQL engine could not state the model's rules).
    """
    stats = check.statistics or {}
    c = column
    translations = {
        "isin": lambda: f"{c} in ({', '.join(sql_literal(v) for v in stats['allowed_values'])})",
        "notin": lambda: f"{c} not in ({', '.join(sql_literal(v) for v in stats['forbidden_values'])})",
        "equal_to": lambda: f"{c} = {sql_literal(stats['value'])}",
        "not_equal_to": lambda: f"{c} <> {sql_literal(stats['value'])}",
        "greater_than": lambda: f"{c} > {sql_literal(stats['min_value'])}",
        "greater_than_or_equal_to": lambda: f"{c} >= {sql_literal(stats['min_value'])}",
        "less_than": lambda: f"{c} < {sql_literal(stats['max_value'])}",
        "less_than_or_equal_to": lambda: f"{c} <= {sql_literal(stats['max_value'])}",
        "in_range": lambda: (
            f"{c} {'>=' if stats.get('include_min', True) else '>'} {sql_literal(stats['min_value'])} and "
            f"{c} {'<=' if stats.get('include_max', True) else '<'} {sql_literal(stats['max_value'])}"
        ),
        "str_startswith": lambda: f"starts_with({c}, {sql_literal(stats['string'])})",
        "str_endswith": lambda: f"ends_with({c}, {sql_literal(stats['string'])})",
    }
    if check.name not in translations or check.raise_warning or check.groupby is not None:
        raise NotImplementedError(
            f"column {column}: the pandera check {check.error or check.name!r} has no SQL translation; "
            "add one to mart_sql.element_check_sql (or write the rule as a dataframe check with a "
            "SQL twin in rait_registry/mart_sql.py::SQL_CHECKS)"
        )
    sql = translations[check.name]()
    # pandera leaves missing values out of element checks (ignore_na); without it they fail
    return f"{c} is null or ({sql})" if check.ignore_na else f"coalesce({sql}, false)"


@dataclass(frozen=True)
class SqlCheck:
    """One rule of the SQL engine: reported as (column, check); ``sql`` is TRUE where a row passes."""

    column: str | None
    check: str
    sql: str
    needs: frozenset[str]  # the mart columns the SQL names


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names_in(sql: str, columns) -> frozenset[str]:
    """The columns of ``columns`` that ``sql`` names (string literals left out)."""
    words = set(_IDENTIFIER.findall(_STRING_LITERAL.sub("''", sql)))
    return frozenset(c for c in columns if c in words)


def mart_rules(mart: str) -> tuple[dict[str, list[SqlCheck]], list[SqlCheck]]:
    """Field rules per column (generated from the model) and table rules (``Config.unique`` and
    the SQL twins of the dataframe checks) of ``mart``."""
    schema = MART_MODELS[mart].to_schema()
    by_column: dict[str, list[SqlCheck]] = {}
    for name, column in schema.columns.items():
        dtype_family(column.dtype)  # an unknown dtype fails here, at import
        rules = by_column.setdefault(name, [])
        needs = frozenset([name])
        if not column.nullable:
            rules.append(SqlCheck(name, "not_nullable", f"{name} is not null", needs))
        if column.unique:
            # pandera reports every row of a duplicated value, but drops missing failure cases
            duplicated = f"select {name} from _mart where {name} is not null group by {name} having count(*) > 1"
            rules.append(SqlCheck(name, "field_uniqueness", f"{name} is null or {name} not in ({duplicated})", needs))
        for check in column.checks:
            rules.append(SqlCheck(name, check.error or check.name, element_check_sql(name, check), needs))
    table: list[SqlCheck] = []
    if schema.unique:
        unique = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        # rows (struct values compare missing == missing, like pandas duplicated) of a duplicated
        # combination; pandera drops a row whose cells are all missing
        combination = f"row({', '.join(unique)})"
        duplicated = f"select {combination} from _mart group by 1 having count(*) > 1"
        all_missing = " and ".join(f"{c} is null" for c in unique)
        table.append(
            SqlCheck(
                None,
                "multiple_fields_uniqueness",
                f"({all_missing}) or {combination} not in ({duplicated})",
                frozenset(unique),
            )
        )
    twins = SQL_CHECKS.get(mart, {})
    checks = [check.name for check in schema.checks]
    if sorted(checks) != sorted(twins):
        raise NotImplementedError(
            f"marts.{mart}: the dataframe checks {sorted(set(checks) ^ set(twins))} lack a SQL twin (or the twin "
            "lacks its check); every @pa.dataframe_check needs one in rait_registry/mart_sql.py::SQL_CHECKS"
        )
    for name in checks:
        table.append(SqlCheck(None, name, twins[name], names_in(twins[name], schema.columns)))
    return by_column, table


#: mart -> (field rules per column, table rules); built at import so an untranslatable check fails early.
SQL_RULES = {mart: mart_rules(mart) for mart in MART_MODELS}


def sql_column(name: str, family: str, db_type: str) -> str:
    """The column as the rules see it: NaN as NULL (pandas reads both as NaN), and a value of an
    incompatible database type cast to the model's type (its failure is reported separately)."""
    description, compatible, sql_type = TYPES[family]
    expression = name if compatible(db_type) else f"try_cast({name} as {sql_type})"
    if family == "float":
        expression = f"nullif(cast({expression} as double), cast('nan' as double))"
    return expression if expression == name else f"{expression} as {name}"


WINDOW = re.compile(r"\bover\s*\(", re.IGNORECASE)


def failed_rules(rules: list[SqlCheck], first: int) -> str:
    """A list of the indices (from ``first``) of the rules a row fails."""
    cases = ", ".join(
        f"case when not coalesce(({rule.sql}), false) then {first + i} end" for i, rule in enumerate(rules)
    )
    return f"list_filter([{cases}], lambda x: x is not null)"
