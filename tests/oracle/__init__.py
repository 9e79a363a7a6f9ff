"""Independent pandas reading of docs/specification.md section 2 (see ``contract_rules``)."""

from .contract_rules import (
    DEFAULT_VARS,
    MART_COLUMNS,
    MART_KEYS,
    compare_marts,
    derive_marts,
    load_extract,
    read_marts,
)

__all__ = [
    "DEFAULT_VARS",
    "MART_COLUMNS",
    "MART_KEYS",
    "compare_marts",
    "derive_marts",
    "load_extract",
    "read_marts",
]
