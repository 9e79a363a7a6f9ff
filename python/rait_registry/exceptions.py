"""Errors raised by rait-registry.

Every message says what went wrong *and what to do*. Messages may name a table,
a 1-based source row, a column and the pseudonymous patient id, never a cell value.
Each error carries the CLI exit code of docs/specification.md section 5.
"""

from __future__ import annotations


class RaitRegistryError(Exception):
    """Base class of every rait-registry error."""

    exit_code = 4


class UsageError(RaitRegistryError):
    """The command was called wrongly (bad option, missing path)."""

    exit_code = 2


class DataProblem(RaitRegistryError):
    """The data cannot be used as it is (docs/specification.md section 5: exit code 1)."""

    exit_code = 1


class ExtractRefused(DataProblem):
    """A file-level problem refuses the whole extract (missing file or column, bad manifest...)."""


class BuildFailed(DataProblem):
    """``dbt build`` failed: a model, a data test or a unit test did not pass."""


class MartCheckFailed(DataProblem):
    """A pandera check on a mart failed; nothing was published."""


class WarehouseHeld(RaitRegistryError):
    """The warehouse is held (contract section 5, exit code 3): another process has the DuckDB file
    open read-write, so nobody else can open it and a refresh must not publish over it."""

    exit_code = 3


class LockHeld(WarehouseHeld):
    """Another refresh holds the warehouse lock."""


class WarehouseNotFound(UsageError):
    """No published warehouse at the given path."""


class AnalysisError(RaitRegistryError):
    """A statistical analysis cannot be run on the data given (say why and what to change)."""


class InsufficientDataError(AnalysisError):
    """Too few patients, events or groups for the requested analysis."""


class MatchingError(AnalysisError):
    """Propensity-score matching cannot be carried out as configured."""


class StatisticsWarning(UserWarning):
    """A statistical caveat: separation, few events per variable, non-convergence."""
