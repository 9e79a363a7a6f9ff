"""The parts of dbt's Jinja context the project's SQL uses, for sqlfluff's jinja templater.

``.sqlfluff`` (repository root) lints the dbt project with the jinja templater, which renders
the models offline, without dbt or a warehouse. sqlfluff's dbt builtins stand in for ``ref``,
``source``, ``config``, ``this`` and ``is_incremental``, and the project's own macros are loaded
from ``dbt_project/macros``; the names below are what those macros call besides. Each renders
the SQL dbt-duckdb would compile, so sqlfluff's duckdb dialect parses what DuckDB runs.
sqlfluff puts every public name of this package into the Jinja context.
"""

from pathlib import Path as _Path
from types import SimpleNamespace as _Namespace

import jinja2 as _jinja2
import yaml as _yaml

_PROJECT_VARS = _yaml.safe_load((_Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text())["vars"]


def var(name, default=None):
    """A project var at its dbt_project.yml default, so rendered SQL holds real literals."""
    return _PROJECT_VARS.get(name, default)


def _string_literal(value):
    return "'" + str(value).replace("'", "''") + "'"


def _cast(expression, data_type):
    return f"cast({expression} as {data_type})"


def _dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def _datediff(first_date, second_date, datepart):
    return f"(date_diff('{datepart}', cast({first_date} as timestamp), cast({second_date} as timestamp)))"


#: dbt's cross-database macros (``dbt.cast`` ...) in their DuckDB spelling.
dbt = _Namespace(cast=_cast, dateadd=_dateadd, datediff=_datediff, string_literal=_string_literal)

#: ``api.Column.translate_type``: the DuckDB type names are the names the macros ask for.
api = _Namespace(Column=_Namespace(translate_type=lambda data_type: data_type))

#: The build target: DuckDB.
target = _Namespace(type="duckdb", name="duckdb", schema="main")


@_jinja2.pass_context
def _dispatch(context, macro_name, macro_namespace=None):
    """``adapter.dispatch``: the duckdb__ implementation among the loaded macros, else default__."""
    for prefix in ("duckdb__", "default__"):
        macro = context.get(prefix + macro_name)
        if macro is not None:
            return macro
    raise LookupError(f"no duckdb__ or default__ implementation of macro {macro_name!r}")


adapter = _Namespace(dispatch=_dispatch)
