"""rait-registry: a thyroid-cancer RAIT registry turned into study-ready evidence.

Pipeline (see ``shared/design.md``): ingest -> build file -> dbt -> checks ->
atomic publish -> analyze -> report.
"""

__version__ = "0.1.0"
