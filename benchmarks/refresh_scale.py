"""Refresh at registry scale: wall time and peak memory of every phase, against a bare DuckDB pass.

For each size (synthetic Parquet or CSV extracts written by :func:`rait_registry.synth.write_extract`,
seed 1, cached in the work folder) the benchmark runs, each in a fresh Python process so its peak
resident set size is its own:

``bare``
    The yardstick of issue 21: DuckDB reads every extract file once and computes, grouped by
    patient_id, count(distinct) of its first column and max() of every other column; nothing else.
``phases``
    The refresh taken apart, phase by phase, with the same functions :func:`refresh` calls:
    ingest (reading the files as text, row checks, staging the accepted rows; the row checks are
    also timed on their own), dbt run (seeds + models), dbt snapshot, dbt test (data tests; unit
    tests are not part of a refresh), mart checks (pandera), history (mart hashes, run row,
    checkpoint) and publish (atomic rename). Peak RSS per phase comes from ``VmHWM`` of
    ``/proc/self/status``, reset between phases (``/proc/self/clear_refs``).
    (only with ``--phases``).
``refresh``
    :func:`rait_registry.refresh.refresh` end to end, three times onto one warehouse: the first
    refresh (a full build), the nightly refresh of an extract in which 0.5% of the patients changed
    (corrected TSH results; an incremental build, docs/incremental.md), and the same extract again
    with ``full_refresh=True`` (the full rebuild the nightly refresh is compared with). Per-phase
    times come from the refresh log, per-model times from the ``run_results.json`` dbt leaves
    beside the warehouse.

Targets at 1 000 000 patients (issue 21, 2-core machine): the nightly refresh in at most 30 s and
at most a quarter of the full refresh's time; the full refresh in at most 120 s; peak memory under
6 GB.

Usage::

    python benchmarks/refresh_scale.py                          # 10k and 1M, Parquet
    python benchmarks/refresh_scale.py --sizes 10000 --format csv
    python benchmarks/refresh_scale.py --sizes 1000000 --format csv --first-only
    python benchmarks/refresh_scale.py --sizes 1000000 --workdir /tmp/rscale --json out.json --phases
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_NIGHTLY_S = 30.0
TARGET_NIGHTLY_SHARE = 0.25
TARGET_FULL_S = 120.0
TARGET_PEAK_MB = 6 * 1024
TARGET_SIZE = 1_000_000
#: Share of the patients whose records change between the first and the nightly extract.
NIGHTLY_SHARE = 0.005

# --------------------------------------------------------------------------------------------
# Child processes. Each prints one line '@@RESULT <json>'.
# --------------------------------------------------------------------------------------------

COMMON = r"""
import json, os, re, resource, sys, time
from pathlib import Path

def hwm_mb():
    with open("/proc/self/status") as handle:
        return int(re.search(r"VmHWM:\s+(\d+)", handle.read()).group(1)) / 1024

def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass

def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def cpu_s():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total

import threading

def _tree_rss_mb():
    # resident memory of this process and of its descendants (worker processes), from /proc
    me = os.getpid()
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                text = handle.read()
        except OSError:
            continue
        ppid = re.search(r"PPid:\s+(\d+)", text)
        vmrss = re.search(r"VmRSS:\s+(\d+)", text)
        parents[int(entry)] = int(ppid.group(1)) if ppid else 0
        rss[int(entry)] = int(vmrss.group(1)) / 1024 if vmrss else 0.0
    total, frontier = rss.get(me, 0.0), [me]
    while frontier:
        parent = frontier.pop()
        for pid, pp in parents.items():
            if pp == parent:
                total += rss.get(pid, 0.0)
                frontier.append(pid)
    return total

class Sampler:
    # samples the resident memory of the process tree every `interval` seconds
    def __init__(self, interval=0.25):
        self.interval, self.samples, self._stop = interval, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.perf_counter()
        self._thread.start()
    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self.t0, _tree_rss_mb()))
            self._stop.wait(self.interval)
    def stop(self):
        self._stop.set(); self._thread.join()
        return self.samples
    def peak(self, start=0.0, end=float("inf")):
        return max((mb for t, mb in self.samples if start <= t <= end), default=0.0)
"""

BARE = (
    COMMON
    + r"""
import duckdb
extract = Path(sys.argv[1])
threads = int(sys.argv[2])
con = duckdb.connect()
con.execute(f"set threads = {threads}")
con.execute("set enable_progress_bar = false")
t0, c0 = time.perf_counter(), cpu_s()
rows = 0
for path in sorted([*extract.glob("*.parquet"), *extract.glob("*.csv")]):
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    columns = [r[0] for r in con.execute(f"describe select * from {reader}(?)", [str(path)]).fetchall()]
    aggregates = ", ".join(f'max("{c}") as "{c}"' for c in columns[1:] if c != "patient_id")
    con.execute(
        f"create or replace temp table bare_{path.stem} as "
        f'select patient_id, count(*) as n_rows, count(distinct "{columns[0]}") as n_first, {aggregates} '
        f"from {reader}(?) group by patient_id",
        [str(path)],
    )
    rows += con.execute(f"select sum(n_rows) from bare_{path.stem}").fetchone()[0]
wall = time.perf_counter() - t0
print("@@RESULT " + json.dumps({"wall_s": wall, "cpu_s": cpu_s() - c0, "peak_mb": max_rss_mb(), "rows": int(rows)}))
"""
)

BARE_WRITE = (
    COMMON
    + r"""
import duckdb
extract, database = Path(sys.argv[1]), Path(sys.argv[2])
threads = int(sys.argv[3])
database.unlink(missing_ok=True)
con = duckdb.connect(str(database))
con.execute(f"set threads = {threads}")
con.execute("set enable_progress_bar = false")
timings = {}
t0, c0 = time.perf_counter(), cpu_s()
for path in sorted([*extract.glob("*.parquet"), *extract.glob("*.csv")]):
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    con.execute(f"create table {path.stem} as select * from {reader}(?)", [str(path)])
con.execute("checkpoint")
timings["write"] = time.perf_counter() - t0
t = time.perf_counter()
for path in sorted([*extract.glob("*.parquet"), *extract.glob("*.csv")]):
    # a table's name in the select list is its row as a struct
    con.execute(
        f"create temp table fingerprint_{path.stem} as select patient_id, count(*) as n, "
        f"sum(hash({path.stem})::hugeint) as h from {path.stem} group by patient_id"
    )
timings["fingerprint"] = time.perf_counter() - t
con.close()
t = time.perf_counter()
import shutil
shutil.copyfile(database, database.with_suffix(".copy"))
timings["file_copy"] = time.perf_counter() - t
size_mb = database.stat().st_size / 2**20
database.with_suffix(".copy").unlink()
database.unlink()
print("@@RESULT " + json.dumps({"timings_s": timings, "cpu_s": cpu_s() - c0, "peak_mb": max_rss_mb(), "db_mb": size_mb}))
"""
)

PHASES = (
    COMMON
    + r"""
import duckdb, datetime as dt
from rait_registry import checks, history
from rait_registry import ingest as ingest_module
from rait_registry.dbt_runner import require_success, run_dbt
from rait_registry.mart_checks import validate_marts
from rait_registry.refresh import connect_build

extract, work, threads = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
shutil_work = work
import shutil
shutil.rmtree(work, ignore_errors=True)
(work / "build").mkdir(parents=True)
build = work / "build" / "registry.duckdb"
published = work / "registry.duckdb"
phases = {}
check_time = {}

original_checks = checks.run_row_checks
def timed_checks(*args, **kwargs):
    t = time.perf_counter()
    try:
        return original_checks(*args, **kwargs)
    finally:
        check_time["s"] = time.perf_counter() - t
checks.run_row_checks = timed_checks

sampler = Sampler()

def phase(name, fn):
    reset_hwm()
    t, c = time.perf_counter(), cpu_s()
    start = t - sampler.t0
    out = fn()
    end = time.perf_counter() - sampler.t0
    # own high-water mark, or the sampled process tree (worker processes included) if higher
    phases[name] = {"wall_s": time.perf_counter() - t, "cpu_s": cpu_s() - c,
                    "peak_mb": max(hwm_mb(), sampler.peak(start, end))}
    return out

def do_ingest():
    con = connect_build(build)
    try:
        history.prepare_build(con)
        report = ingest_module.ingest(extract, con)
        return report
    finally:
        con.close()

def dbt(command, extra):
    return require_success(run_dbt(command, build, work_dir=work / ".dbt", threads=threads, extra_args=extra))

node_times = {}
def collect(label):
    data = json.loads((work / ".dbt" / "dbt-target" / "run_results.json").read_text())
    for item in data.get("results", []):
        node_times[item["unique_id"]] = {"s": item.get("execution_time") or 0.0, "phase": label,
                                         "status": str(item.get("status"))}

# parse once up front, so that the first timed dbt command is not charged a full parse
t = time.perf_counter()
dbt("parse", [])
parse_s = time.perf_counter() - t

report = phase("ingest", do_ingest)
phases["ingest"]["row_checks_s"] = check_time.get("s")
phase("dbt run", lambda: dbt("build", ["--resource-type", "seed", "--resource-type", "model"]))
collect("dbt run")
phase("dbt snapshot", lambda: dbt("snapshot", []))
collect("dbt snapshot")
tests = phase("dbt test", lambda: dbt("test", ["--exclude-resource-type", "unit_test"]))
collect("dbt test")

def do_checks():
    con = connect_build(build)
    try:
        return validate_marts(con)
    finally:
        con.close()
phase("mart checks", do_checks)

def do_history():
    con = connect_build(build)
    try:
        hashes = history.mart_hashes(con)
        history.record_run(con, {"run_id": "benchmark", "status": "published",
                                 "mart_hashes": {k: v["md5"] for k, v in hashes.items()}})
        con.execute("checkpoint")
        return hashes
    finally:
        con.close()
hashes = phase("history", do_history)
phase("publish", lambda: os.replace(build, published))
print("@@RESULT " + json.dumps({
    "phases": phases, "parse_s": parse_s, "node_times": node_times,
    "peak_mb": max(p["peak_mb"] for p in phases.values()),
    "rows_read": sum(t.rows_read for t in report.tables.values()),
    "rows_quarantined": report.rows_quarantined,
    "mart_rows": {k: v["rows"] for k, v in hashes.items()},
    "db_mb": published.stat().st_size / 2**20,
    "tests": tests.counts,
}))
"""
)

REFRESH = (
    COMMON
    + r"""
from rait_registry.refresh import refresh, log_path
extract, warehouse, threads, label = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
full_refresh = sys.argv[5] == "full"
sampler = Sampler()
t, c = time.perf_counter(), cpu_s()
result = refresh(extract, warehouse, threads=threads, full_refresh=full_refresh, max_age_days=None)
wall, cpu = time.perf_counter() - t, cpu_s() - c
sampler.stop()
# peak memory per refresh phase: the phases run one after the other in this order
phase_peaks, start = {}, t - sampler.t0
for name, seconds in result.timings_s.items():
    phase_peaks[name] = sampler.peak(start, start + seconds + 0.5)
    start += seconds
data = json.loads((warehouse.parent / ".dbt" / "dbt-target" / "run_results.json").read_text())
nodes = {item["unique_id"]: {"s": item.get("execution_time") or 0.0, "status": str(item.get("status"))}
         for item in data.get("results", [])}
logged = json.loads(log_path(warehouse).read_text().splitlines()[-1])
progress = {p["phase"]: p["elapsed_s"] for p in logged["phases"]}
build = result.build
print("@@RESULT " + json.dumps({"label": label, "wall_s": wall, "cpu_s": cpu, "progress_s": progress,
                  "kind": build.kind, "reason": build.reason, "changed": build.n_patients_changed,
                  "recomputed": build.n_patients_recomputed, "db_mb": warehouse.stat().st_size / 2**20,
                  "peak_mb": max(max_rss_mb(), sampler.peak()), "phase_peak_mb": phase_peaks, "timings_s": result.timings_s,
                  "status": result.status, "dbt_elapsed_s": data.get("elapsed_time"), "nodes": nodes,
                  "mart_rows": result.mart_rows}))
"""
)

SYNTH = r"""
import sys
from rait_registry.synth import write_extract
write_extract(sys.argv[2], n_patients=int(sys.argv[1]), seed=int(sys.argv[3]), fmt=sys.argv[4])
"""


def _child(code: str, *args: object) -> dict:
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"benchmark child failed (exit {proc.returncode})")
    # dbt may leave a line unfinished on stdout, so look for the marker anywhere in a line
    results = [line.split("@@RESULT ", 1)[1] for line in proc.stdout.splitlines() if "@@RESULT " in line]
    if not results:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("benchmark child printed no result")
    return json.loads(results[-1])


def ensure_extract(n: int, workdir: Path, seed: int, fmt: str = "parquet") -> Path:
    """The cached extract of ``n`` patients (written on first use)."""
    path = workdir / f"extract_{n}_seed{seed}" if fmt == "parquet" else workdir / f"extract_{n}_seed{seed}_{fmt}"
    if not (path / "manifest.json").is_file():
        shutil.rmtree(path, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SYNTH, str(n), str(path), str(seed), fmt], check=True)
        print(f"  wrote {path} in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def nightly_extract(extract: Path, target: Path, share: float = NIGHTLY_SHARE) -> Path:
    """A copy of ``extract`` (no manifest: its date is the files' time, after the first extract's) in
    which the TSH results of ``share`` of the patients (picked by a hash of patient_id) are corrected
    by +0.5 mIU/L: the nightly case of issue 21, about 0.5% of the patients changed."""
    import duckdb

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    labs = next(path for path in extract.iterdir() if path.stem == "lab_results")
    for path in extract.iterdir():
        if path.suffix in (".parquet", ".csv") and path != labs:
            shutil.copy(path, target / path.name)
    modulus = round(1 / share)
    if labs.suffix == ".parquet":
        read, write = f"read_parquet('{labs}', file_row_number = true)", "(format parquet)"
    else:
        read = f"read_csv('{labs}', all_varchar = true, header = true)"
        write = "(format csv, header true)"
    value = "value + 0.5" if labs.suffix == ".parquet" else "cast(cast(value as double) + 0.5 as varchar)"
    order = "order by file_row_number" if labs.suffix == ".parquet" else ""
    duckdb.execute(
        f"copy (select * {'exclude (file_row_number)' if labs.suffix == '.parquet' else ''} replace ("
        f"case when analyte = 'TSH' and hash(patient_id) % {modulus} = 0 then {value} else value end as value) "
        f"from {read} {order}) to '{target / labs.name}' {write}"
    )
    return target


def loadavg() -> float:
    return os.getloadavg()[0]


REFRESHES = ("refresh_first", "refresh_nightly", "refresh_full")


def run_size(
    n: int, workdir: Path, seed: int, threads: int, fmt: str = "parquet", phases: bool = False, runs=REFRESHES
) -> dict:
    extract = ensure_extract(n, workdir, seed, fmt)
    out: dict = {"n": n, "format": fmt, "load_before": loadavg()}
    out["bare"] = _child(BARE, extract, threads)
    # DuckDB alone on the floor of a refresh's work: write every file once as a table, fingerprint
    # it per patient, copy the file
    out["bare_write"] = _child(BARE_WRITE, extract, workdir / f"bare_write_{n}.duckdb", threads)
    if phases:
        out["phases"] = _child(PHASES, extract, workdir / f"phases_{n}", threads)
        shutil.rmtree(workdir / f"phases_{n}", ignore_errors=True)
    warehouse_dir = workdir / f"refresh_{n}_{fmt}"
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    warehouse = warehouse_dir / "registry.duckdb"
    out["refresh_first"] = _child(REFRESH, extract, warehouse, threads, "first", "auto")
    if "refresh_nightly" not in runs:
        shutil.rmtree(warehouse_dir, ignore_errors=True)
        out["load_after"] = loadavg()
        return out
    nightly = nightly_extract(extract, workdir / f"extract_{n}_{fmt}_nightly")
    out["nightly_bare"] = _child(BARE, nightly, threads)
    out["load_nightly"] = loadavg()
    out["refresh_nightly"] = _child(REFRESH, nightly, warehouse, threads, "nightly", "auto")
    if "refresh_full" in runs:
        out["refresh_full"] = _child(REFRESH, nightly, warehouse, threads, "full rebuild", "full")
    shutil.rmtree(nightly, ignore_errors=True)
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    out["load_after"] = loadavg()
    return out


def _fmt_mb(mb: float) -> str:
    return f"{mb:,.0f}"


def print_size(r: dict) -> None:
    n, bare = r["n"], r["bare"]
    print(
        f"\n=== {n:,} patients, {r['format']} ({bare['rows']:,} extract rows; load average "
        f"{r['load_before']:.1f} -> {r['load_after']:.1f})"
    )
    print(f"{'run':<40} {'wall s':>8} {'x bare':>7} {'CPU s':>7} {'peak RSS MB':>12}")
    rows = [("bare DuckDB pass (yardstick)", bare["wall_s"], bare.get("cpu_s"), bare["peak_mb"])]
    if "phases" in r:
        for name, p in r["phases"]["phases"].items():
            rows.append((f"phase: {name}", p["wall_s"], p.get("cpu_s"), p["peak_mb"]))
    for key in (key for key in REFRESHES if key in r):
        rr = r[key]
        kind = rr["kind"] + (f", {rr['reason']}" if rr.get("reason") else "")
        rows.append((f"refresh {rr['label']} ({kind})"[:40], rr["wall_s"], rr.get("cpu_s"), rr["peak_mb"]))
    if "bare_write" in r:
        for name, seconds in r["bare_write"]["timings_s"].items():
            rows.append((f"DuckDB alone: {name}", seconds, None, None))
    for name, wall, cpu, peak in rows:
        x = wall / bare["wall_s"] if bare["wall_s"] else float("nan")
        print(
            f"{name:<40} {wall:>8.1f} {x:>7.1f} {(f'{cpu:.1f}' if cpu is not None else ''):>7} "
            f"{(_fmt_mb(peak) if peak is not None else ''):>12}"
        )
    for key in (key for key in REFRESHES if key in r):
        rr = r[key]
        print(
            f"{rr['label']}: {rr['changed']:,} patients changed, {rr['recomputed']:,} recomputed; phases, s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in rr["progress_s"].items())
        )
        slow = sorted(rr["nodes"].items(), key=lambda kv: -kv[1]["s"])[:6]
        tests = [v["s"] for k, v in rr["nodes"].items() if k.startswith("test.")]
        print(
            f"  dbt: {len(rr['nodes'])} nodes, data tests {sum(tests):.1f} s summed; slowest "
            + ", ".join(f"{k.split('.')[-1][:40]} {v['s']:.1f}" for k, v in slow)
        )


def check_targets(r: dict) -> list[str]:
    """The targets of issue 21 at 1M patients; returns the misses."""
    if "refresh_full" not in r:
        return []
    nightly, full = r["refresh_nightly"], r["refresh_full"]
    peak = max(r[key]["peak_mb"] for key in REFRESHES)
    checks = [
        (
            f"nightly refresh {nightly['wall_s']:.1f} s (target <= {TARGET_NIGHTLY_S:g} s)",
            nightly["wall_s"] <= TARGET_NIGHTLY_S,
        ),
        (
            f"nightly / full rebuild {nightly['wall_s'] / full['wall_s']:.2f} (target <= {TARGET_NIGHTLY_SHARE:g})",
            nightly["wall_s"] <= TARGET_NIGHTLY_SHARE * full["wall_s"],
        ),
        (
            f"full refresh: first {r['refresh_first']['wall_s']:.1f} s, rebuild {full['wall_s']:.1f} s "
            f"(target <= {TARGET_FULL_S:g} s)",
            max(full["wall_s"], r["refresh_first"]["wall_s"]) <= TARGET_FULL_S,
        ),
        (f"peak RSS {peak:,.0f} MB (target < {TARGET_PEAK_MB:,} MB)", peak < TARGET_PEAK_MB),
        (f"nightly refresh ran incrementally ({nightly['kind']})", nightly["kind"] == "incremental"),
    ]
    print(f"\nTargets at {r['n']:,} patients ({r['format']}):")
    misses = []
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {text}")
        if not ok:
            misses.append(text)
    return misses


def print_growth(results: list[dict]) -> None:
    if len(results) < 2:
        return
    print("\nGrowth (wall time per 1,000 patients, s):")
    print(f"{'patients':>10} {'format':>8} {'bare':>7} {'first':>7} {'nightly':>8} {'full':>7}")
    for r in results:
        k = r["n"] / 1000
        print(
            f"{r['n']:>10,} {r['format']:>8} {r['bare']['wall_s'] / k:>7.4f} {r['refresh_first']['wall_s'] / k:>7.4f} "
            f"{r.get('refresh_nightly', {}).get('wall_s', 0) / k:>8.4f} "
            f"{r.get('refresh_full', {}).get('wall_s', 0) / k:>7.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,1000000", help="comma-separated patient counts (default 10000,1000000)")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for extracts (kept, reused) and builds; default a temporary folder",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="dbt and DuckDB threads")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw figures to this file")
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="extract format")
    ap.add_argument("--no-full-rebuild", action="store_true", help="skip the third refresh (the full rebuild)")
    ap.add_argument(
        "--first-only",
        action="store_true",
        help="only the first refresh (e.g. of a CSV extract: what reading it costs)",
    )
    ap.add_argument(
        "--phases", action="store_true", help="also time a full build taken apart phase by phase (a fourth build)"
    )
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="refresh_scale_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"refresh_scale: sizes {sizes}, {os.cpu_count()} CPUs, load average {loadavg():.1f}, work folder {workdir}")
    results = []
    try:
        for n in sizes:
            runs = REFRESHES[:1] if args.first_only else REFRESHES[:2] if args.no_full_rebuild else REFRESHES
            r = run_size(n, workdir, args.seed, args.threads, args.format, args.phases, runs)
            results.append(r)
            print_size(r)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_growth(results)
    misses = []
    for r in results:
        if r["n"] == TARGET_SIZE:
            misses += check_targets(r)
    if misses:
        print(f"\n{len(misses)} target(s) missed")


if __name__ == "__main__":
    main()
