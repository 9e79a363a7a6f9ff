"""Row-level checks of docs/specification.md section 1, run as set-based SQL in DuckDB.

Every row of ``landing.<table>`` (the file as text) is written once to ``raw.<table>`` with its
contract type (:func:`typed_select`: text trimmed, vocabulary in the contract's spelling, DATE,
DOUBLE, INTEGER, BOOLEAN) and the list of its columns whose value has the wrong type
(``_invalid``); the rules run on that typed table. Every failing row is written to
``quarantine.rejected_rows`` -- one row per failed rule, with the row as read -- and deleted from
``raw.<table>``, which then holds the accepted rows in file order. The column rules (type,
vocabulary, range, required) are generated from :mod:`rait_registry.contract`; nothing here runs
Python per row, so the checks scale with DuckDB to tens of millions of rows. Typed Parquet
values (``NATIVE_TYPES``) are checked as they are, with the outcome their text would have.

Order of evaluation (documented in ``docs/quarantine-reasons.md``):

1. **Row rules**, one pass per table over every row read: required values, types, vocabularies,
   ranges, conditional requirements, unit/analyte agreement, plausible activity, a date after the
   extract date.
2. **Key rules**, one pass per table over every row read: exact duplicates keep the first copy
   (``exact_duplicate`` for the others); rows sharing a key with different values are all
   quarantined (``duplicate_key``).
3. **Cross-row rules**, iterated to a fixed point. Each round evaluates every rule against the rows
   still accepted at the start of the round (a snapshot, so the order of rules inside a round
   does not matter), and only rows still accepted are examined. Rounds repeat until one adds
   nothing: a patient without an accepted follow_up row; references to missing or quarantined
   rows; an RxWBS linked to another patient's administration; dates before birth, after death,
   after the last contact; a RAIT before the patient's first accepted operation.

Values are compared after the contract's normalisation: surrounding spaces trimmed, vocabulary
values matched case-insensitively.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from . import params
from .contract import ACTIVITY_PLAUSIBLE_GBQ, ACTIVITY_UNITS_TO_GBQ, LAB_UNITS, TABLE_ORDER, TABLES, Column

REJECTED_ROWS_DDL = """
create table if not exists quarantine.rejected_rows (
    source_table varchar not null,
    source_row bigint not null,
    row_key varchar,
    "column" varchar,
    reason_code varchar not null,
    message varchar not null,
    raw_record json
)
"""

#: Stable reason codes of ``quarantine.rejected_rows`` -> what the message says (never a value).
REASONS: dict[str, str] = {
    # row rules
    "missing_required": "a required value is empty",
    "invalid_date": "not a real date in the form YYYY-MM-DD",
    "invalid_decimal": "not a decimal number (digits with an optional '.' fraction)",
    "invalid_integer": "not a whole number",
    "invalid_boolean": "not true or false",
    "not_in_vocabulary": "not one of the values the contract allows for this column",
    "out_of_range": "outside the range the contract allows for this column",
    "unit_not_valid_for_analyte": "the unit is not one the contract accepts for this analyte "
    "(Tg: ng/mL, ug/L; TgAb: IU/mL, kIU/L; TSH: mIU/L, uIU/mL)",
    "activity_implausible": "the activity converted to GBq is outside the plausible 0.5-15 GBq "
    "(check the activity_unit)",
    "rait_id_required_for_rxwbs": "an RxWBS row needs the rait_id of the administration it followed",
    "death_date_required_when_dead": "vital_status is dead but death_date is empty",
    "death_date_when_alive": "vital_status is alive but a death_date is given",
    "date_after_extract": "the date is after the extract date",
    "last_contact_after_death": "last_contact_date is after the death_date of the same row",
    # key rules
    "exact_duplicate": "an exact copy of an earlier row (the first copy is kept)",
    "duplicate_key": "another row has the same key with different values (all such rows are quarantined)",
    # cross-row rules (cascades)
    "no_valid_follow_up": "the patient has no accepted follow_up row; the patient and all their rows are quarantined",
    "reference_missing": "refers to a row that does not exist in the referenced table",
    "reference_quarantined": "refers to a row that is quarantined",
    "reference_patient_mismatch": "refers to an administration of another patient",
    "date_before_birth": "the date is before the patient's birth_date",
    "date_after_death": "the date is after the patient's death_date",
    "date_after_last_contact": "the date is after the patient's last_contact_date",
    "rait_before_first_surgery": "the administration is dated before the patient's first operation",
}

#: The reason codes that only cascades (cross-row rules) produce.
CASCADE_REASONS = frozenset(
    {
        "no_valid_follow_up",
        "reference_missing",
        "reference_quarantined",
        "reference_patient_mismatch",
        "date_before_birth",
        "date_after_death",
        "date_after_last_contact",
        "rait_before_first_surgery",
    }
)

DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DECIMAL_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
# A whole number; an integral decimal such as "3.0" (Parquet writers store integer columns with
# gaps as floating point) is the same number, not a guess.
INTEGER_PATTERN = r"[+-]?[0-9]+(\.0*)?"

#: Event dates checked against birth, death and last contact: table -> date column.
EVENT_DATES = {
    "surgeries": "surgery_date",
    "rait_administrations": "admin_date",
    "lab_results": "sample_date",
    "imaging_findings": "study_date",
}

MAX_ROUNDS = 100


@dataclass
class CheckSummary:
    """What :func:`run_row_checks` did: rounds of the cross-row fixed point and failures per reason."""

    rounds: int = 0
    failures: dict[str, int] = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _num(value: float) -> str:
    return repr(float(value))


def _work(table: str) -> str:
    """Name of the narrow typed working table of ``landing.<table>`` (see :func:`_create_work_table`)."""
    return f"_chk_{table}"


#: Parquet types whose values are read as they are (``<column>__native`` in ``landing.<table>``)
#: instead of through their text, by contract type: the outcome of every rule is the same as for
#: the text DuckDB writes for them, without printing and re-parsing tens of millions of numbers.
NATIVE_TYPES = {
    "date": ("DATE",),
    "decimal": ("DOUBLE",),
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT"),
    "boolean": ("BOOLEAN",),
}
NATIVE_SUFFIX = "__native"


def native_columns(con: duckdb.DuckDBPyConnection, table: str) -> frozenset[str]:
    """Columns of ``landing.<table>`` that also come as a typed Parquet value (``<column>__native``)."""
    names = [row[0] for row in con.execute(f"describe landing.{_q(table)}").fetchall()]
    return frozenset(name[: -len(NATIVE_SUFFIX)] for name in names if name.endswith(NATIVE_SUFFIX))


def _native_expression(column: Column) -> str:
    """SQL for the typed value of a typed Parquet value; NULL where its text would be invalid."""
    n = _q(column.name + NATIVE_SUFFIX)
    if column.dtype == "date":  # the text of a year before 1 or after 9999 is not YYYY-MM-DD
        return f"case when {n} between date '0001-01-01' and date '9999-12-31' then {n} end"
    if column.dtype == "decimal":
        return f"case when isfinite({n}) and isfinite(try_cast({n} as float)) then cast({n} as double) end"
    if column.dtype == "integer":
        return f"try_cast({n} as integer)"
    return n  # boolean


def _typed_expression(column: Column, native: frozenset[str] = frozenset()) -> str | None:
    """SQL for the typed value of a trimmed text column ``t``; NULL when the text is invalid.
    For a column in ``native``, from its typed Parquet value instead."""
    if column.name in native and column.vocabulary is None:
        return _native_expression(column)
    t = f"nullif(trim({_q(column.name)}), '')"
    if column.vocabulary is not None:
        cases = " ".join(f"when {_lit(v.lower())} then {_lit(v)}" for v in column.vocabulary)
        return f"case lower({t}) {cases} end"
    if column.dtype == "date":
        return (
            f"case when regexp_full_match({t}, {_lit(DATE_PATTERN)}) "
            f"and try_cast({t} as date) >= date '0001-01-01' then try_cast({t} as date) end"
        )
    if column.dtype == "decimal":
        return (
            f"case when regexp_full_match({t}, {_lit(DECIMAL_PATTERN)}) "
            f"and isfinite(try_cast({t} as double)) and isfinite(try_cast({t} as float)) "
            f"then try_cast({t} as double) end"
        )
    if column.dtype == "integer":
        return f"case when regexp_full_match({t}, {_lit(INTEGER_PATTERN)}) then try_cast({t} as integer) end"
    if column.dtype == "boolean":
        return f"case lower({t}) when 'true' then true when 'false' then false end"
    return None


def _type_reason(column: Column) -> str:
    if column.vocabulary is not None:
        return "not_in_vocabulary"
    return {
        "date": "invalid_date",
        "decimal": "invalid_decimal",
        "integer": "invalid_integer",
        "boolean": "invalid_boolean",
    }[column.dtype]


def _range_violation(column: Column, value: str) -> str | None:
    parts = []
    if column.min_value is not None:
        parts.append(f"{value} {'<' if column.min_inclusive else '<='} {_num(column.min_value)}")
    if column.max_value is not None:
        parts.append(f"{value} {'>' if column.max_inclusive else '>='} {_num(column.max_value)}")
    return " or ".join(parts) if parts else None


def _checked_columns(table: str, native: frozenset[str] = frozenset()) -> str:
    """Select list over ``landing.<table>``: source_row, every column trimmed (``c``) and typed
    (``c__v``; a column in ``native`` typed from its Parquet value)."""
    select = ["source_row"]
    for column in TABLES[table].columns:
        select.append(f"nullif(trim({_q(column.name)}), '') as {_q(column.name)}")
        typed = _typed_expression(column, native)
        if typed is not None:
            select.append(f"{typed} as {_q(column.name + '__v')}")
    return ", ".join(select)


INVALID = "_invalid"


def typed_select(table: str, native: frozenset[str] = frozenset()) -> str:
    """Select list over ``landing.<table>``: ``source_row``, every column with its contract type
    (text trimmed with empty as NULL, vocabulary in the contract's spelling, DATE, DOUBLE,
    INTEGER, BOOLEAN) named as in the contract, and ``_invalid``: the columns that have a value
    whose type is wrong (NULL when there is none)."""
    select = ["source_row"]
    invalid = []
    for column in TABLES[table].columns:
        typed = _typed_expression(column, native)
        if typed is None:
            select.append(f"nullif(trim({_q(column.name)}), '') as {_q(column.name)}")
            continue
        select.append(f"{typed} as {_q(column.name)}")
        if column.name in native:
            text_present = f"{_q(column.name + NATIVE_SUFFIX)} is not null"
        else:
            text_present = f"nullif(trim({_q(column.name)}), '') is not null"
        invalid.append(f"case when {text_present} and ({typed}) is null then {_lit(column.name)} end")
    if invalid:
        select.append(f"nullif(list_filter([{', '.join(invalid)}], lambda x: x is not null), []) as {INVALID}")
    else:
        select.append(f"cast(null as varchar[]) as {INVALID}")
    return ", ".join(select)


def _create_typed_table(con: duckdb.DuckDBPyConnection, table: str, native: frozenset[str]) -> None:
    """``raw.<table>``: every row read, typed, with ``_invalid`` -- written once; the rules read it,
    and :func:`_keep_accepted_rows` leaves the accepted rows in it."""
    con.execute(
        f"create or replace table raw.{_q(table)} as select {typed_select(table, native)} from landing.{_q(table)}"
    )


def _typed_rows(table: str) -> str:
    """``raw.<table>`` as the row rules read it: a typed column ``c`` as ``c__v`` (text columns as
    they are) and ``_invalid``."""
    select = ["source_row", INVALID]
    for column in TABLES[table].columns:
        if _typed_expression(column) is None:
            select.append(_q(column.name))
        else:
            select.append(f"{_q(column.name)} as {_q(column.name + '__v')}")
    return f"(select {', '.join(select)} from raw.{_q(table)})"


def _typed_present(column: Column) -> str:
    """Presence of a value in :func:`_typed_rows`: typed, or there but of the wrong type."""
    if _typed_expression(column) is None:
        return f"{_q(column.name)} is not null"
    return f"({_q(column.name + '__v')} is not null or coalesce(list_contains({INVALID}, {_lit(column.name)}), false))"


def _create_work_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """``_chk_<table>``: what the key and cross-row rules read -- source_row, the key, patient_id
    and the references, and every date column (``c__v``) -- as a view over ``raw.<table>``."""
    spec = TABLES[table]
    needed = {spec.key, "patient_id", *spec.references}
    select = ["source_row"]
    for column in spec.columns:
        if column.name in needed:
            select.append(_q(column.name))
        elif column.dtype == "date":
            select.append(f"{_q(column.name)} as {_q(column.name + '__v')}")
    con.execute(f"create or replace temp view {_work(table)} as select {', '.join(select)} from raw.{_q(table)}")


def _row_rules(table: str, extracted_at: dt.date) -> list[tuple[str, str, str]]:
    """(condition, column, reason_code) of every row rule of ``table`` (docs/specification.md section 1), over
    :func:`_typed_rows`."""
    spec = TABLES[table]
    rules: list[tuple[str, str, str]] = []
    for column in spec.columns:
        present = _typed_present(column)
        if column.required:
            rules.append((f"not {present}", column.name, "missing_required"))
        if _typed_expression(column) is not None:
            typed_name = _q(column.name + "__v")
            rules.append(
                (f"coalesce(list_contains({INVALID}, {_lit(column.name)}), false)", column.name, _type_reason(column))
            )
            violation = _range_violation(column, typed_name)
            if violation:
                rules.append((f"{typed_name} is not null and ({violation})", column.name, "out_of_range"))
            if column.dtype == "date":
                rules.append(
                    (f"{typed_name} > date {_lit(extracted_at.isoformat())}", column.name, "date_after_extract")
                )
    if table == "lab_results":
        allowed = " or ".join(
            f"(analyte__v = {_lit(analyte)} and unit__v in ({', '.join(_lit(u) for u in units)}))"
            for analyte, units in LAB_UNITS.items()
        )
        rules.append(
            (
                f"analyte__v is not null and unit__v is not null and not ({allowed})",
                "unit",
                "unit_not_valid_for_analyte",
            )
        )
    if table == "rait_administrations":
        factor = (
            "case activity_unit__v "
            + " ".join(f"when {_lit(unit)} then {_num(f)}" for unit, f in ACTIVITY_UNITS_TO_GBQ.items())
            + " end"
        )
        low, high = ACTIVITY_PLAUSIBLE_GBQ
        rules.append(
            (
                f"activity__v is not null and activity_unit__v is not null and activity__v > 0 "
                f"and not (activity__v * {factor} between {_num(low)} and {_num(high)})",
                "activity",
                "activity_implausible",
            )
        )
    if table == "imaging_findings":
        rules.append(("modality__v = 'RxWBS' and rait_id is null", "rait_id", "rait_id_required_for_rxwbs"))
    if table == "follow_up":
        death_date = _typed_present(spec.column("death_date"))
        rules.append(
            (f"vital_status__v = 'dead' and not ({death_date})", "death_date", "death_date_required_when_dead")
        )
        rules.append((f"vital_status__v = 'alive' and {death_date}", "death_date", "death_date_when_alive"))
        rules.append(("last_contact_date__v > death_date__v", "last_contact_date", "last_contact_after_death"))
    return rules


def _insert_failures(
    con: duckdb.DuckDBPyConnection, table: str, rules: list[tuple[str, str, str]], source: str
) -> None:
    """One pass over ``source``: every (condition, column, reason) that holds becomes a failure row."""
    items = ", ".join(
        f"case when {condition} then {{'column': {_lit(column)}, 'reason': {_lit(reason)}}} end"
        for condition, column, reason in rules
    )
    # the list of failures is built only for the (few) rows that fail some rule
    any_failure = " or ".join(f"({condition})" for condition, _, _ in rules)
    con.execute(
        f"insert into _failures select {_lit(table)}, source_row, f.column, f.reason, 0 from "
        f"(select source_row, unnest([{items}]) as f from {source} where {any_failure}) where f is not null"
    )


def _key_rules(con: duckdb.DuckDBPyConnection, table: str, native: frozenset[str] = frozenset()) -> None:
    """Exact duplicates (all but the first copy) and keys shared by rows with different values."""
    spec = TABLES[table]
    # a valid value compares by its typed value ("2.50" = "2.5", "TRUE" = "true", "lung" = "Lung"),
    # an invalid one by its trimmed text
    normalised = (
        "{"
        + ", ".join(
            f"{_lit(c.name)}: "
            + (
                f"coalesce(cast({_q(c.name + '__v')} as varchar), {_q(c.name)})"
                if _typed_expression(c) is not None
                else _q(c.name)
            )
            for c in spec.columns
        )
        + "}"
    )
    key = _q(spec.key)
    # Rows that are exact copies share their key (or have none), so only rows whose key is not
    # unique, or empty, need the full-row comparison: keys are almost always unique, and this
    # keeps the pass cheap on tens of millions of rows (one grouping of the typed key column).
    con.execute(
        f"""
        create or replace temp table _key_candidate_rows as
        select source_row from {_work(table)}
        where {key} is null
           or {key} in (
               select {key} from {_work(table)} where {key} is not null
               group by {key} having count(*) > 1
           )
        """
    )
    if con.execute("select count(*) from _key_candidate_rows").fetchone()[0] == 0:
        con.execute("drop table _key_candidate_rows")
        return  # every key present and unique: no duplicates, and the landing table is not read again
    con.execute(
        f"""
        create or replace temp table _key_candidates as
        select {_checked_columns(table, native)} from landing.{_q(table)}
        where source_row in (select source_row from _key_candidate_rows)
        """
    )
    con.execute("drop table _key_candidate_rows")
    con.execute(
        f"""
        insert into _failures
        select {_lit(table)}, source_row, {_lit(spec.key)}, 'exact_duplicate', 0
        from (
            select source_row, row_number() over (partition by {normalised} order by source_row) as copy_number
            from _key_candidates
        )
        where copy_number > 1
        """
    )
    con.execute(
        f"""
        insert into _failures
        select {_lit(table)}, c.source_row, {_lit(spec.key)}, 'duplicate_key', 0
        from _key_candidates as c
        join (
            select {key} as k from _key_candidates where {key} is not null
            group by {key} having count(distinct {normalised}) > 1
        ) as conflicting on c.{key} = conflicting.k
        """
    )
    con.execute("drop table _key_candidates")


def _accepted(table: str) -> str:
    """Rows of ``table`` not (yet) quarantined, as an SQL relation."""
    return (
        f"(select * from {_work(table)} where source_row not in "
        f"(select source_row from _failures where source_table = {_lit(table)}))"
    )


def _cross_row_queries() -> list[str]:
    """SELECTs (table, source_row, column, reason) of every cross-row rule, over accepted rows."""
    queries = [
        # a patient without an accepted follow_up row
        """select 'patients', p.source_row, 'patient_id', 'no_valid_follow_up' from _acc_patients as p
            where not exists (select 1 from _acc_follow_up as f where f.patient_id = p.patient_id)"""
    ]
    for table in TABLE_ORDER:
        for column, parent in TABLES[table].references.items():
            parent_key = _q(TABLES[parent].key)
            queries.append(
                f"""select {_lit(table)}, c.source_row, {_lit(column)},
                       case when exists (select 1 from {_work(parent)} as every_parent
                                         where every_parent.{parent_key} = c.{_q(column)})
                            then 'reference_quarantined' else 'reference_missing' end
                    from _acc_{table} as c
                    where c.{_q(column)} is not null
                      and not exists (select 1 from _acc_{parent} as p where p.{parent_key} = c.{_q(column)})"""
            )
    queries.append(
        """select 'imaging_findings', f.source_row, 'rait_id', 'reference_patient_mismatch'
           from _acc_imaging_findings as f join _acc_rait_administrations as r on f.rait_id = r.rait_id
           where f.patient_id <> r.patient_id"""
    )
    birth_checked = {**EVENT_DATES, "follow_up": None}
    for table, date_column in birth_checked.items():
        columns = [date_column] if date_column else ["last_contact_date", "death_date"]
        for column in columns:
            queries.append(
                f"""select {_lit(table)}, e.source_row, {_lit(column)}, 'date_before_birth'
                    from _acc_{table} as e join _acc_patients as p on e.patient_id = p.patient_id
                    where e.{_q(column + "__v")} < p.birth_date__v"""
            )
    for table, column in EVENT_DATES.items():
        queries.append(
            f"""select {_lit(table)}, e.source_row, {_lit(column)}, 'date_after_death'
                from _acc_{table} as e join _acc_follow_up as f on e.patient_id = f.patient_id
                where e.{_q(column + "__v")} > f.death_date__v"""
        )
        queries.append(
            f"""select {_lit(table)}, e.source_row, {_lit(column)}, 'date_after_last_contact'
                from _acc_{table} as e join _acc_follow_up as f on e.patient_id = f.patient_id
                where e.{_q(column + "__v")} > f.last_contact_date__v"""
        )
    queries.append(
        """select 'rait_administrations', r.source_row, 'admin_date', 'rait_before_first_surgery'
           from _acc_rait_administrations as r
           join (select patient_id, min(surgery_date__v) as first_surgery
                 from _acc_surgeries group by patient_id) as s on r.patient_id = s.patient_id
           where r.admin_date__v < s.first_surgery"""
    )
    return queries


def _cross_row_rules(con: duckdb.DuckDBPyConnection) -> int:
    """Iterate the cross-row rules to a fixed point; return the number of rounds that added rows."""
    queries = _cross_row_queries()
    # ``_acc_<table>`` are views: the CREATE TABLE of a round is one statement, so every rule
    # of the round sees the accepted rows as of its start (the snapshot), and no round copies the
    # working tables (tens of millions of rows at registry scale).
    for table in TABLE_ORDER:
        con.execute(f"create or replace temp view _acc_{table} as select * from {_accepted(table)}")
    for round_number in range(1, MAX_ROUNDS + 1):
        con.execute(
            "create or replace temp table _round as " + "\nunion all\n".join(f"select * from ({q})" for q in queries)
        )
        added = con.execute("select count(*) from _round").fetchone()[0]
        if added == 0:
            return round_number - 1
        con.execute(f"insert into _failures select *, {round_number} from _round")
    raise RuntimeError(f"cross-row checks did not reach a fixed point in {MAX_ROUNDS} rounds")  # pragma: no cover


def _write_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Materialise ``_failures`` into ``quarantine.rejected_rows`` with messages and raw records."""
    reasons = ", ".join(f"({_lit(code)}, {_lit(text)})" for code, text in REASONS.items())
    for table in TABLE_ORDER:
        spec = TABLES[table]
        record = "{" + ", ".join(f"{_lit(c)}: l.{_q(c)}" for c in spec.column_names) + "}"
        con.execute(
            f"""
            insert into quarantine.rejected_rows
            select f.source_table, f.source_row, nullif(trim(l.{_q(spec.key)}), ''), f.column, f.reason_code,
                   f.source_table || ' row ' || f.source_row::varchar || ', column ' || f.column || ': '
                       || r.text || ' [' || f.reason_code || ']',
                   to_json({record})
            from _failures as f
            join landing.{_q(table)} as l on l.source_row = f.source_row
            join (values {reasons}) as r(code, text) on r.code = f.reason_code
            where f.source_table = {_lit(table)}
            order by f.source_row, f.phase, f.reason_code, f.column
            """
        )


def run_row_checks(con: duckdb.DuckDBPyConnection, extracted_at: dt.date) -> CheckSummary:
    """Check every landing table against docs/specification.md section 1 and fill ``quarantine.rejected_rows``.

    Parameters
    ----------
    con
        Connection whose ``landing`` schema holds the six tables as text with ``source_row``
        (as :func:`rait_registry.ingest.ingest` leaves them).
    extracted_at
        The extract date: a date after it quarantines the row (``date_after_extract``).

    Returns
    -------
    CheckSummary
        Rounds of the cross-row fixed point and the number of failures per reason code.
    """
    con.execute("set enable_progress_bar = false")  # never draw on the command's stdout
    con.execute("create schema if not exists quarantine")
    con.execute(REJECTED_ROWS_DDL)
    con.execute(
        "create or replace temp table _failures (source_table varchar, source_row bigint, "
        '"column" varchar, reason_code varchar, phase integer)'
    )
    con.execute("create schema if not exists raw")
    try:
        for table in TABLE_ORDER:
            native = native_columns(con, table)
            _create_typed_table(con, table, native)
            _insert_failures(con, table, _row_rules(table, extracted_at), _typed_rows(table))
            _create_work_table(con, table)
            _key_rules(con, table, native)
        rounds = _cross_row_rules(con)
        _write_quarantine(con)
        failures = dict(con.execute("select reason_code, count(*) from _failures group by 1 order by 1").fetchall())
    finally:
        for table in TABLE_ORDER:
            con.execute(f"drop view if exists _acc_{table}")
            con.execute(f"drop view if exists {_work(table)}")
        con.execute("drop table if exists _round")
        con.execute("drop table if exists _failures")
    _keep_accepted_rows(con)
    return CheckSummary(rounds=rounds, failures=failures)


def _keep_accepted_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the quarantined rows from ``raw.*`` and drop ``_invalid``: the accepted rows stay,
    typed, in file order."""
    for table in TABLE_ORDER:
        con.execute(
            f"delete from raw.{_q(table)} where source_row in "
            f"(select source_row from quarantine.rejected_rows where source_table = {_lit(table)})"
        )
        con.execute(f"alter table raw.{_q(table)} drop column {INVALID}")


def check_frames(frames: dict, extracted_at: dt.date):
    """Run the row checks on in-memory tables (as text) and return ``quarantine.rejected_rows``.

    A convenience for tests and notebooks: ``frames`` maps table names to pandas DataFrames whose
    columns are contract columns (values as text, ``None`` for empty); a table not given is
    empty. Row ``i`` of a frame (0-based) is ``source_row`` ``i + 1``. Returns a DataFrame with the
    columns of ``quarantine.rejected_rows``.
    """
    import pandas as pd

    unknown = set(frames) - set(TABLES)
    if unknown:
        raise KeyError(f"not contract tables: {', '.join(sorted(unknown))}")
    con = duckdb.connect(":memory:")
    try:
        con.execute("create schema landing")
        for table in TABLE_ORDER:
            columns = TABLES[table].column_names
            frame = frames.get(table)
            if frame is None:
                frame = pd.DataFrame(columns=columns)
            extra = set(frame.columns) - set(columns)
            if extra:
                raise KeyError(f"{table}: not contract columns: {', '.join(sorted(extra))}")
            text = pd.DataFrame(
                {
                    c: (
                        frame[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
                        if c in frame.columns
                        else pd.Series([None] * len(frame), index=frame.index)
                    ).astype(object)
                    for c in columns
                }
            )
            text.insert(0, "source_row", range(1, len(text) + 1))
            con.register("_frame", text)
            casts = ", ".join(f"cast({_q(c)} as varchar) as {_q(c)}" for c in columns)
            con.execute(
                f"create table landing.{_q(table)} as select source_row::bigint as source_row, {casts} from _frame"
            )
            con.unregister("_frame")
        run_row_checks(con, extracted_at)
        return con.execute(
            'select * from quarantine.rejected_rows order by source_table, source_row, reason_code, "column"'
        ).df()
    finally:
        con.close()


def count_tgab_positive(con: duckdb.DuckDBPyConnection, default_cutoff: float | None = None) -> int:
    """Number of accepted TgAb rows that are positive.

    Positive: value >= the row's ``tgab_cutoff`` (else ``default_cutoff``: the dbt var
    ``tgab_positive_cutoff``; ``None`` is its declared default, :mod:`rait_registry.params`) and
    the value is not reported with comparator ``<``.
    Reads ``raw.lab_results`` (accepted rows only, typed; the accepted units of TgAb are equal, factor 1).
    """
    if default_cutoff is None:
        default_cutoff = params.get("tgab_positive_cutoff").default
    return int(
        con.execute(
            """
            select count(*) from raw.lab_results
            where analyte = 'TgAb'
              and value >= coalesce(tgab_cutoff, ?)
              and coalesce(comparator, '') <> '<'
            """,
            [float(default_cutoff)],
        ).fetchone()[0]
    )
