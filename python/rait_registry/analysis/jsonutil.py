"""JSON-ready values: numpy/pandas scalars to Python, NaN/inf to None (results.json is strict JSON)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """Recursively convert numpy/pandas scalars to JSON types; NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (pd.Timestamp, dt.date)):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def skipped(reason: str) -> dict[str, Any]:
    """The one shape of an analysis that could not run, everywhere in results.json."""
    return {"skipped": True, "reason": reason}
