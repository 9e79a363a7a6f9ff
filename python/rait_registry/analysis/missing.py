"""Missing-data codes of the marts: values that say "not known" and are missing data in every analysis.

``local_disease_status = 'unknown'`` (docs/specification.md section 2, revision 2): a patient with
a RAIT but neither an initial operation nor a diagnosis date on record, so the status has no
anchor. It is missing data for every analysis: counted in the ``missing`` row of Table 1 (never
shown as a level), left out of the tests, the logistic and Cox models and the matching with a
warning that says how many patients were dropped, and never a reference level. (Eligibility
requires a dated DTC operation, so the code cannot reach a cohort built by the refresh; a cohort
assembled otherwise can carry it.)

ATA risk ``unknown`` is different: Table 1 shows it as a level of its own, left out of the test
(`rait_registry.analysis.tables.Characteristic.untestable`), as the study reports risk groups.

>>> frame = pd.DataFrame({"local_disease_status": ["neither", "unknown", None, "local_persistent"]})
>>> missing_code_counts(frame)
{'local_disease_status': 1}
>>> as_missing(frame)["local_disease_status"].tolist()
['neither', None, None, 'local_persistent']
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["MISSING_CODES", "as_missing", "dropped_message", "missing_code_counts", "missing_code_mask"]

#: Column -> the values of that column that mean missing data (docs/specification.md section 2).
MISSING_CODES: dict[str, tuple[str, ...]] = {"local_disease_status": ("unknown",)}


def missing_code_mask(values: pd.Series, column: str) -> pd.Series:
    """True where ``values`` (the cohort column ``column``) holds one of its missing-data codes."""
    codes = MISSING_CODES.get(column, ())
    if not codes:
        return pd.Series(False, index=values.index)
    return values.astype(object).isin(codes)


def missing_code_counts(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> dict[str, int]:
    """``{column: patients with a missing-data code}`` over ``columns`` (default: every coded column present)."""
    names = [c for c in (MISSING_CODES if columns is None else columns) if c in frame.columns]
    counts = {c: int(missing_code_mask(frame[c], c).sum()) for c in names}
    return {c: n for c, n in counts.items() if n}


def as_missing(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """``frame`` with every missing-data code of ``columns`` (default: all coded columns) set to None.

    Returns ``frame`` itself when there is nothing to replace, else a copy.
    """
    counts = missing_code_counts(frame, columns)
    if not counts:
        return frame
    out = frame.copy()
    for column in counts:
        values = out[column].astype(object)
        out[column] = values.where(~missing_code_mask(values, column), None)
    return out


def dropped_message(column: str, n: int, where: str) -> str:
    """The warning for patients dropped because of a missing-data code (counts only, never ids)."""
    codes = " or ".join(repr(c) for c in MISSING_CODES.get(column, ()))
    return f"{n} patient(s) with {column} {codes} (missing data) left out of {where}"
