"""Refresh at registry scale: wall time and peak memory of every phase, against a bare DuckDB pass.

For each size (synthetic Parquet extracts written by :func:`rait_registry.synth.write_extract`,
seed 1, cached in the work folder) the benchmark runs, each in a fresh Python process so its peak
resident set size is its own:

``bare``
    The yardstick: DuckDB reads every raw file once and groups it by patient (one aggregate per
    column), nothing else.
``phases``
    The refresh taken apart, phase by phase, with the same functions :func:`refresh` calls:
    ingest (reading the files as text, row checks, staging the accepted rows; the row checks are
    also timed on their own), dbt run (seeds + models), dbt snapshot, dbt test (data tests; unit
    tests are not part of a refresh), mart checks (pandera), history (mart hashes, run row,
    checkpoint) and publish (atomic rename). Peak RSS per phase comes from ``VmHWM`` of
    ``/proc/self/status``, reset between phases (``/proc/self/clear_refs``).
``refresh``
    :func:`rait_registry.refresh.refresh` end to end onto a new warehouse (first refresh), then
    once more onto the published one (a repeat refresh: previous history and snapshots carried
    forward, unchanged marts detected, change summary computed). Per-model times come from the
    ``run_results.json`` dbt leaves beside the warehouse.

Targets at 1 000 000 patients (2-core machine): ingest + dbt run within 6x the bare pass; the
whole refresh within 12x the bare pass and under 2 minutes; peak memory under 8 GB.

Usage::

    python benchmarks/refresh_scale.py                          # 10k, 100k, 1M
    python benchmarks/refresh_scale.py --sizes 10000,100000
    python benchmarks/refresh_scale.py --sizes 1000000 --workdir /tmp/rscale --json out.json
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

TARGET_INGEST_RUN_X = 6.0
TARGET_REFRESH_X = 12.0
TARGET_REFRESH_S = 120.0
TARGET_PEAK_MB = 8 * 1024
TARGET_SIZE = 1_000_000

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
for path in sorted(extract.glob("*.parquet")):
    columns = [r[0] for r in con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()]
    aggregates = ", ".join(f'max("{c}") as "{c}"' for c in columns if c != "patient_id")
    con.execute(
        f"create or replace temp table bare_{path.stem} as "
        f"select patient_id, count(*) as n_rows, {aggregates} from read_parquet(?) group by patient_id",
        [str(path)],
    )
    rows += con.execute(f"select sum(n_rows) from bare_{path.stem}").fetchone()[0]
wall = time.perf_counter() - t0
print("@@RESULT " + json.dumps({"wall_s": wall, "cpu_s": cpu_s() - c0, "peak_mb": max_rss_mb(), "rows": int(rows)}))
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
from rait_registry.refresh import refresh
extract, warehouse, threads, label = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sampler = Sampler()
t, c = time.perf_counter(), cpu_s()
result = refresh(extract, warehouse, threads=threads)
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
print("@@RESULT " + json.dumps({"label": label, "wall_s": wall, "cpu_s": cpu,
                  "peak_mb": max(max_rss_mb(), sampler.peak()), "phase_peak_mb": phase_peaks, "timings_s": result.timings_s,
                  "status": result.status, "dbt_elapsed_s": data.get("elapsed_time"), "nodes": nodes,
                  "mart_rows": result.mart_rows}))
"""
)

SYNTH = r"""
import sys
from rait_registry.synth import write_extract
write_extract(sys.argv[2], n_patients=int(sys.argv[1]), seed=int(sys.argv[3]), fmt="parquet")
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


def ensure_extract(n: int, workdir: Path, seed: int) -> Path:
    """The cached extract of ``n`` patients (written on first use)."""
    path = workdir / f"extract_{n}_seed{seed}"
    if not (path / "manifest.json").is_file():
        shutil.rmtree(path, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SYNTH, str(n), str(path), str(seed)], check=True)
        print(f"  wrote {path} in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def changed_extract(extract: Path, target: Path) -> Path:
    """A copy of ``extract`` (no manifest) whose TSH results among the first 1,000 lab rows are corrected
    (+0.5 mIU/L): a few hundred changed records of the largest table."""
    import duckdb

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in extract.iterdir():
        if path.suffix == ".parquet" and path.stem != "lab_results":
            shutil.copy(path, target / path.name)
    source = extract / "lab_results.parquet"
    duckdb.execute(
        f"copy (select * exclude (file_row_number) replace (case when analyte = 'TSH' and file_row_number < 1000 "
        f"then value + 0.5 else value end as value) from read_parquet('{source}', file_row_number = true) "
        f"order by file_row_number) to '{target / 'lab_results.parquet'}' (format parquet)"
    )
    return target


def loadavg() -> float:
    return os.getloadavg()[0]


def run_size(n: int, workdir: Path, seed: int, threads: int, phases_only: bool = False) -> dict:
    extract = ensure_extract(n, workdir, seed)
    load_before = loadavg()
    out: dict = {"n": n, "load_before": load_before}
    out["bare"] = _child(BARE, extract, threads)
    out["phases"] = _child(PHASES, extract, workdir / f"phases_{n}", threads)
    shutil.rmtree(workdir / f"phases_{n}", ignore_errors=True)
    if phases_only:
        out["load_after"] = loadavg()
        return out
    warehouse_dir = workdir / f"refresh_{n}"
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    warehouse = warehouse_dir / "registry.duckdb"
    out["refresh_first"] = _child(REFRESH, extract, warehouse, threads, "first")
    out["refresh_repeat"] = _child(REFRESH, extract, warehouse, threads, "repeat")
    # the nightly case: the next extract corrects a few records of the largest table (its dbt
    # snapshot then looks for changes; the snapshots of the unchanged tables are left alone)
    changed = changed_extract(extract, workdir / f"extract_{n}_changed")
    out["refresh_changed"] = _child(REFRESH, changed, warehouse, threads, "changed")
    shutil.rmtree(changed, ignore_errors=True)
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    out["load_after"] = loadavg()
    return out


def _fmt_mb(mb: float) -> str:
    return f"{mb:,.0f}"


def print_size(r: dict) -> None:
    n, bare, ph = r["n"], r["bare"], r["phases"]
    print(
        f"\n=== {n:,} patients  ({ph['rows_read']:,} raw rows, {ph['rows_quarantined']:,} quarantined; "
        f"load average {r['load_before']:.1f} -> {r['load_after']:.1f}; dbt parse {ph['parse_s']:.1f} s)"
    )
    print(f"{'phase':<34} {'wall s':>8} {'x bare':>7} {'CPU s':>7} {'peak RSS MB':>12}")
    rows = [("bare DuckDB pass (yardstick)", bare["wall_s"], bare.get("cpu_s"), bare["peak_mb"])]
    for name, p in ph["phases"].items():
        rows.append((name, p["wall_s"], p.get("cpu_s"), p["peak_mb"]))
        if name == "ingest" and p.get("row_checks_s") is not None:
            rows.append(("  of which row checks", p["row_checks_s"], None, None))
    ingest_run = ph["phases"]["ingest"]["wall_s"] + ph["phases"]["dbt run"]["wall_s"]
    rows.append(("ingest + dbt run", ingest_run, None, None))
    rows.append(
        (
            "sum of phases",
            sum(p["wall_s"] for p in ph["phases"].values()),
            sum(p.get("cpu_s") or 0 for p in ph["phases"].values()),
            ph["peak_mb"],
        )
    )
    for key in ("refresh_first", "refresh_repeat", "refresh_changed"):
        if key not in r:
            continue
        rr = r[key]
        rows.append((f"refresh() end to end ({rr['label']})", rr["wall_s"], rr.get("cpu_s"), rr["peak_mb"]))
    for name, wall, cpu, peak in rows:
        x = wall / bare["wall_s"] if bare["wall_s"] else float("nan")
        print(
            f"{name:<34} {wall:>8.1f} {x:>7.1f} {(f'{cpu:.1f}' if cpu is not None else ''):>7} "
            f"{(_fmt_mb(peak) if peak is not None else ''):>12}"
        )
    for key in ("refresh_first", "refresh_repeat", "refresh_changed"):
        if key in r:
            peaks = r[key].get("phase_peak_mb", {})
            print(
                f"refresh() phases ({r[key]['label']}), s [peak MB]: "
                + ", ".join(
                    f"{k} {v:.1f}" + (f" [{peaks[k]:,.0f}]" if peaks.get(k) else "")
                    for k, v in r[key]["timings_s"].items()
                )
            )
    nodes = ph["node_times"]
    models = sorted(((k, v["s"]) for k, v in nodes.items() if v["phase"] == "dbt run"), key=lambda kv: -kv[1])
    tests = [v["s"] for v in nodes.values() if v["phase"] == "dbt test"]
    snaps = sorted(((k, v["s"]) for k, v in nodes.items() if v["phase"] == "dbt snapshot"), key=lambda kv: -kv[1])
    print(
        f"dbt: {len(models)} seeds/models ({sum(s for _, s in models):.1f} s summed), {len(tests)} data tests "
        f"({sum(tests):.1f} s summed, slowest {max(tests, default=0):.2f} s), "
        f"{len(snaps)} snapshots ({sum(s for _, s in snaps):.1f} s summed)"
    )
    print("slowest models: " + ", ".join(f"{k.split('.')[-1]} {s:.2f}" for k, s in models[:8]))


def check_targets(r: dict) -> list[str]:
    """Targets at 1M patients; returns the misses."""
    misses = []
    bare = r["bare"]["wall_s"]
    ph = r["phases"]["phases"]
    ingest_run = ph["ingest"]["wall_s"] + ph["dbt run"]["wall_s"]
    refreshes = [r[k] for k in ("refresh_first", "refresh_repeat", "refresh_changed") if k in r]
    whole = max((rr["wall_s"] for rr in refreshes), default=sum(p["wall_s"] for p in ph.values()))
    peak = max([r["phases"]["peak_mb"]] + [rr["peak_mb"] for rr in refreshes])
    label = "whole refresh" if refreshes else "sum of phases"
    checks = [
        (
            f"ingest + dbt run {ingest_run:.1f} s = {ingest_run / bare:.1f}x bare (target <= {TARGET_INGEST_RUN_X:g}x)",
            ingest_run <= TARGET_INGEST_RUN_X * bare,
        ),
        (
            f"{label} {whole:.1f} s = {whole / bare:.1f}x bare (target <= {TARGET_REFRESH_X:g}x)",
            whole <= TARGET_REFRESH_X * bare,
        ),
        (f"{label} {whole:.1f} s (target < {TARGET_REFRESH_S:g} s)", whole < TARGET_REFRESH_S),
        (f"peak RSS {peak:,.0f} MB (target < {TARGET_PEAK_MB:,} MB)", peak < TARGET_PEAK_MB),
    ]
    print(f"\nTargets at {r['n']:,} patients:")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {text}")
        if not ok:
            misses.append(text)
    return misses


def print_growth(results: list[dict]) -> None:
    if len(results) < 2:
        return
    print("\nGrowth (time per 1,000 patients, s):")
    print(f"{'patients':>10} {'bare':>7} {'ingest':>7} {'dbt run':>8} {'dbt test':>9} {'phases':>8} {'refresh':>8}")
    for r in results:
        k = r["n"] / 1000
        ph = r["phases"]["phases"]
        print(
            f"{r['n']:>10,} {r['bare']['wall_s'] / k:>7.4f} {ph['ingest']['wall_s'] / k:>7.4f} "
            f"{ph['dbt run']['wall_s'] / k:>8.4f} {ph['dbt test']['wall_s'] / k:>9.4f} "
            f"{sum(p['wall_s'] for p in ph.values()) / k:>8.4f} "
            + (f"{r['refresh_repeat']['wall_s'] / k:>8.4f}" if "refresh_repeat" in r else f"{'-':>8}")
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated patient counts (default 10000,100000,1000000)"
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for extracts (kept, reused) and builds; default a temporary folder",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="dbt and DuckDB threads")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw figures to this file")
    ap.add_argument(
        "--phases-only",
        action="store_true",
        help="skip the two end-to-end refresh() runs (quicker; the whole-refresh targets are not checked)",
    )
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="refresh_scale_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"refresh_scale: sizes {sizes}, {os.cpu_count()} CPUs, load average {loadavg():.1f}, work folder {workdir}")
    results = []
    try:
        for n in sizes:
            r = run_size(n, workdir, args.seed, args.threads, args.phases_only)
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
