"""pandera models of rait-registry (importable as ``rait_registry.schemas``).

``raw``
    One ``DataFrameModel`` per raw table of docs/specification.md section 1 (the row and within-table rules of
    the SQL checks, coercing a table as read into typed columns).
``marts``
    One ``DataFrameModel`` per published mart of docs/specification.md section 3, run by
    :func:`rait_registry.mart_checks.validate_marts` before every publication.
"""
