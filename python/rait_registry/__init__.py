"""rait-registry: a thyroid-cancer RAIT registry turned into study-ready evidence.

Pipeline (README.md, "How it works"): ingest -> build file -> dbt -> checks ->
atomic publish -> analyze -> report.
"""

__version__ = "0.1.0"
