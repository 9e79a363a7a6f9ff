"""How numbers are written in tables, figures and generated sentences: one rule per kind of number."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["P_STYLES", "format_p"]

#: ``table``: as the paper's tables print p (``<0.0001``, 4 decimals below 0.001, else 3);
#: ``sentence``: as a generated sentence says it (``< 0.001``, else 3 decimals).
P_STYLES = ("table", "sentence")


def format_p(p: float | None, style: str = "table", missing: Any = "n/a") -> Any:
    """A p-value as text.

    Parameters
    ----------
    p : float or None
    style : {"table", "sentence"}
        ``"table"``: ``<0.0001``, 4 decimals below 0.001, else 3 (the paper's tables, the report's
        tables and figures). ``"sentence"``: ``< 0.001``, else 3 decimals (interpretations).
    missing : str or None
        Returned for None, NaN or an infinite value (``n/a`` by default).

    Examples
    --------
    >>> format_p(0.00004), format_p(0.0004), format_p(0.0312)
    ('<0.0001', '0.0004', '0.031')
    >>> format_p(0.0004, style="sentence"), format_p(None, missing=None)
    ('< 0.001', None)
    """
    if style not in P_STYLES:
        raise ValueError(f"style must be one of {P_STYLES}, got {style!r}")
    if p is None or not math.isfinite(p):
        return missing
    if style == "sentence":
        return "< 0.001" if p < 0.001 else f"{p:.3f}"
    if p < 0.0001:
        return "<0.0001"
    if p < 0.001:
        return f"{p:.4f}"
    return f"{p:.3f}"
