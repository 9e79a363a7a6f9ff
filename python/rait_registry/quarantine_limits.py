"""How much quarantined data is too much: quarantine shares and their limits.

In the style of the thresholds of OHDSI's Data Quality Dashboard, every ingest measures, per
table, the **share** of the rows read that were quarantined::

    share = distinct quarantined source rows / rows read

for the table as a whole and for each reason code. A row quarantined for two reasons counts once
in its table's share and once under each of its reasons; a row quarantined because of another row
(a cascade: a lab result of a quarantined patient) counts in its own table under its own reason
(``reference_quarantined``...), so each table's share says how much of *that* table is lost.

Each share has a **limit** (a share above it fails; a share equal to it passes):

* per table: :data:`DEFAULT_MAX_SHARE` (5%) for every table unless set;
* per table and reason: none unless set.

The limits come from, later ones winning: the defaults, the ``[quarantine]`` section of the
configuration file (``--config PATH`` or ``$RAIT_CONFIG``; :func:`load_config` gives the format)
and the ``--max-quarantine-share`` items (``SHARE``, ``TABLE=SHARE``, ``TABLE.REASON=SHARE``).
``rait-registry validate`` prints every share with its limit; ``rait-registry refresh`` stops
before building when one is over its limit (exit code 1, the published warehouse is kept) and
records the shares in ``refresh-log.jsonl`` and, for published runs, in
``history.refresh_runs.quarantine_shares``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .checks import REASONS
from .contract import TABLE_ORDER
from .exceptions import QuarantineLimitExceeded, UsageError

#: The limit of every table's quarantine share unless one is set.
DEFAULT_MAX_SHARE = 0.05

#: The environment variable naming the configuration file when ``--config`` is not given.
CONFIG_ENV = "RAIT_CONFIG"

#: A share is compared with its limit to this tolerance (a share equal to its limit passes).
_TOLERANCE = 1e-12


def parse_share(value: Any, where: str) -> float:
    """A share given as a number in [0, 1] or as a percentage (``"5%"``).

    Raises
    ------
    UsageError
        Not a number, or outside [0, 1] (0% - 100%).
    """
    text = str(value).strip()
    try:
        if isinstance(value, bool):
            raise ValueError
        share = float(text[:-1]) / 100 if text.endswith("%") else float(value)
    except ValueError:
        raise UsageError(
            f"{where}: a share is a number from 0 to 1 or a percentage (0.05 or 5%), not that value."
        ) from None
    if not 0 <= share <= 1:
        raise UsageError(f"{where}: a share must be between 0 and 1 (0% and 100%).")
    return share


def _table(name: str, where: str) -> str:
    if name not in TABLE_ORDER:
        raise UsageError(f"{where}: unknown table {name!r}; the tables are {', '.join(TABLE_ORDER)}.")
    return name


def _reason(code: str, where: str) -> str:
    if code not in REASONS:
        raise UsageError(
            f"{where}: unknown reason code {code!r}; the codes are in docs/quarantine-reasons.md "
            f"({', '.join(sorted(REASONS))})."
        )
    return code


@dataclass(frozen=True)
class QuarantineLimits:
    """The limits of the quarantine shares.

    Attributes
    ----------
    default : float
        Limit of every table without its own.
    tables : dict
        ``{table: limit}``.
    reasons : dict
        ``{(table, reason_code): limit}``.
    """

    default: float = DEFAULT_MAX_SHARE
    tables: Mapping[str, float] = field(default_factory=dict)
    reasons: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def table_limit(self, table: str) -> float:
        return self.tables.get(table, self.default)

    def reason_limit(self, table: str, reason_code: str) -> float | None:
        return self.reasons.get((table, reason_code))

    def with_items(self, items: Iterable[str]) -> QuarantineLimits:
        """These limits with ``--max-quarantine-share`` items applied (``SHARE``, ``TABLE=SHARE``,
        ``TABLE.REASON=SHARE``; later items win).

        Raises
        ------
        UsageError
            A malformed item, an unknown table or reason, a share outside [0, 1].
        """
        default, tables, reasons = self.default, dict(self.tables), dict(self.reasons)
        for item in items:
            where = f"--max-quarantine-share {item}"
            if "=" not in item:
                default = parse_share(item, where)
                continue
            key, value = (part.strip() for part in item.split("=", 1))
            share = parse_share(value, where)
            if "." in key:
                table, reason = key.split(".", 1)
                reasons[(_table(table, where), _reason(reason, where))] = share
            else:
                tables[_table(key, where)] = share
        return replace(self, default=default, tables=tables, reasons=reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "tables": dict(self.tables),
            "reasons": {f"{table}.{reason}": share for (table, reason), share in self.reasons.items()},
        }


def load_config(path: str | Path) -> QuarantineLimits:
    """Read the ``[quarantine]`` section of a TOML configuration file.

    The format (every key optional)::

        [quarantine]
        max_share = 0.05                 # every table without its own limit (5% also works)

        [quarantine.tables]
        follow_up = 0.01                 # a table's limit ...

        [quarantine.tables.lab_results]  # ... or its limit and limits per reason code
        max_share = 0.10
        reasons = { unit_not_valid_for_analyte = 0.02, date_after_extract = 0 }

    Raises
    ------
    UsageError
        The file cannot be read or is not valid TOML; an unknown section, key, table or reason
        code; a share outside [0, 1]. The message names the file and the key.
    """
    from .paths import readable_file

    path = readable_file(path, "configuration file")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"configuration file {path}: not valid TOML ({exc}).") from None
    unknown = sorted(set(document) - {"quarantine"})
    if unknown:
        raise UsageError(f"configuration file {path}: unknown section [{unknown[0]}]; the file has [quarantine] only.")
    section = document.get("quarantine", {})
    where = f"configuration file {path}, [quarantine]"
    _only(section, {"max_share", "tables"}, where)
    limits = QuarantineLimits()
    if "max_share" in section:
        limits = replace(limits, default=parse_share(section["max_share"], f"{where} max_share"))
    tables: dict[str, float] = {}
    reasons: dict[tuple[str, str], float] = {}
    entries = section.get("tables", {})
    if not isinstance(entries, dict):
        raise UsageError(f"{where}: tables must be a table of table names.")
    for name, entry in entries.items():
        here = f"configuration file {path}, [quarantine.tables.{name}]"
        _table(name, here)
        if not isinstance(entry, dict):
            tables[name] = parse_share(entry, here)
            continue
        _only(entry, {"max_share", "reasons"}, here)
        if "max_share" in entry:
            tables[name] = parse_share(entry["max_share"], f"{here} max_share")
        by_reason = entry.get("reasons", {})
        if not isinstance(by_reason, dict):
            raise UsageError(f"{here}: reasons must map reason codes to shares.")
        for code, share in by_reason.items():
            reasons[(name, _reason(code, here))] = parse_share(share, f"{here} reasons.{code}")
    return replace(limits, tables=tables, reasons=reasons)


def _only(section: Any, allowed: set[str], where: str) -> None:
    if not isinstance(section, dict):
        raise UsageError(f"{where}: expected a table of keys ({', '.join(sorted(allowed))}).")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(allowed))}.")


def resolve_limits(config: str | Path | None = None, items: Iterable[str] = ()) -> QuarantineLimits:
    """The limits of a command: defaults, then the configuration file (``config``, else
    ``$RAIT_CONFIG`` when set), then the ``--max-quarantine-share`` items."""
    if config is None and os.environ.get(CONFIG_ENV):
        config = os.environ[CONFIG_ENV]
    limits = load_config(config) if config is not None else QuarantineLimits()
    return limits.with_items(items)


@dataclass(frozen=True)
class ShareCheck:
    """One share and its limit: a whole table (``reason_code`` None) or one reason in a table."""

    table: str
    reason_code: str | None
    rows: int
    rows_read: int
    limit: float | None

    @property
    def share(self) -> float:
        return self.rows / self.rows_read if self.rows_read else 0.0

    @property
    def passed(self) -> bool:
        return self.limit is None or self.share <= self.limit + _TOLERANCE

    @property
    def label(self) -> str:
        return self.table if self.reason_code is None else f"{self.table}.{self.reason_code}"


@dataclass
class QuarantineShares:
    """The quarantine shares of one ingest, each with its limit (:func:`measure`)."""

    checks: list[ShareCheck] = field(default_factory=list)
    limits: QuarantineLimits = field(default_factory=QuarantineLimits)

    @property
    def failures(self) -> list[ShareCheck]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """``{table: {rows_read, rows_quarantined, share, max_share, reasons: {code: {rows, share,
        max_share}}}}``: what the refresh log and ``history.refresh_runs.quarantine_shares`` store."""
        result: dict[str, Any] = {}
        for check in self.checks:
            if check.reason_code is None:
                result[check.table] = {
                    "rows_read": check.rows_read,
                    "rows_quarantined": check.rows,
                    "share": check.share,
                    "max_share": check.limit,
                    "reasons": {},
                }
        for check in self.checks:
            if check.reason_code is not None:
                result[check.table]["reasons"][check.reason_code] = {
                    "rows": check.rows,
                    "share": check.share,
                    "max_share": check.limit,
                }
        return result

    def failure_message(self) -> str:
        """Why a refresh stops, and how to go on."""
        lines = [
            f"{check.label}: {check.rows} of {check.rows_read} rows quarantined ({percent(check.share)}), "
            f"over the limit of {percent(check.limit)}"
            for check in self.failures
        ]
        return (
            "too much of the extract was quarantined; nothing was built or published (the published "
            "warehouse is unchanged):\n  "
            + "\n  ".join(lines)
            + "\nRun `rait-registry validate --extract DIR` for the reasons and fix the export; to accept "
            "these shares, raise the limit with --max-quarantine-share TABLE=SHARE (or TABLE.REASON=SHARE) "
            "or in the [quarantine] section of the configuration file (README: Data-quality limits)."
        )


def percent(share: float | None) -> str:
    """A share in percent with two decimals (``none`` for no limit)."""
    return "none" if share is None else f"{100 * share:.2f}%"


def measure(con, rows_read: Mapping[str, int], limits: QuarantineLimits | None = None) -> QuarantineShares:
    """The quarantine shares of the ingest behind ``con`` (its ``quarantine.rejected_rows``).

    Parameters
    ----------
    con
        Connection to the build (or validation) database after the row checks.
    rows_read
        ``{table: rows read}`` of the ingest (:class:`rait_registry.ingest.IngestReport`).
    limits
        The limits (default: :class:`QuarantineLimits` with the defaults).

    Returns
    -------
    QuarantineShares
        Per table of ``rows_read`` (in its order): the table's check, then one per reason code
        that quarantined rows of it or has a limit in it, most rows first.
    """
    limits = limits or QuarantineLimits()
    per_table = dict(
        con.execute(
            "select source_table, count(distinct source_row) from quarantine.rejected_rows group by source_table"
        ).fetchall()
    )
    per_reason: dict[tuple[str, str], int] = {
        (table, reason): int(rows)
        for table, reason, rows in con.execute(
            "select source_table, reason_code, count(distinct source_row) "
            "from quarantine.rejected_rows group by source_table, reason_code"
        ).fetchall()
    }
    for key in limits.reasons:
        per_reason.setdefault(key, 0)
    shares = QuarantineShares(limits=limits)
    for table, read in rows_read.items():
        shares.checks.append(
            ShareCheck(table, None, int(per_table.get(table, 0)), int(read), limits.table_limit(table))
        )
        reasons = sorted(((code, rows) for (name, code), rows in per_reason.items() if name == table), key=_by_rows)
        for code, rows in reasons:
            shares.checks.append(ShareCheck(table, code, rows, int(read), limits.reason_limit(table, code)))
    return shares


def _by_rows(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def check(shares: QuarantineShares) -> None:
    """Raise :class:`QuarantineLimitExceeded` when a share is over its limit."""
    if shares.failures:
        raise QuarantineLimitExceeded(shares.failure_message())
