"""The study report: figures, tables and one self-contained HTML file (``rait-registry report``).

>>> from rait_registry.report import build_report
>>> build_report("warehouse/registry.duckdb", "out")          # doctest: +SKIP
PosixPath('out/report.html')
"""

from .build import build_report, load_report_data, study_parameters

__all__ = ["build_report", "load_report_data", "study_parameters"]
