"""Row count and an order-independent digest of every relation of a DuckDB file, as JSON.

Run as a script by two DuckDB versions (``python relation_digest.py WAREHOUSE``): the project's and
an older client's (tests/test_clients.py). Only the standard library and duckdb are used, and
the digest is computed in Python from the fetched values (DuckDB's ``hash()`` differs between
versions), so equal digests mean both versions read the same values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import sys
import uuid

import duckdb


def canonical(value) -> str:
    """One text per value whatever the DuckDB version that fetched it."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (dt.date, dt.time, dt.timedelta, decimal.Decimal, uuid.UUID, bool, int)):
        return str(value) if not isinstance(value, (dt.date, dt.time)) else value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{canonical(k)}:{canonical(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def digests(path: str) -> dict[str, list]:
    """``{schema.relation: [rows, digest, type]}`` for every table and view of the file."""
    con = duckdb.connect(path, read_only=True)
    con.execute("set TimeZone = 'UTC'")
    relations = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_catalog = current_database() order by 1, 2"
    ).fetchall()
    result = {}
    for schema, name, kind in relations:
        rows = con.execute(f'select * from "{schema}"."{name}"').fetchall()
        row_hashes = sorted(hashlib.sha256("\x1f".join(map(canonical, row)).encode()).hexdigest() for row in rows)
        result[f"{schema}.{name}"] = [len(rows), hashlib.sha256("".join(row_hashes).encode()).hexdigest(), kind]
    con.close()
    return result


if __name__ == "__main__":
    json.dump({"duckdb": duckdb.__version__, "relations": digests(sys.argv[1])}, sys.stdout)
