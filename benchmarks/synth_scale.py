"""Time and peak memory of writing synthetic registries as Parquet.

Each size runs in a fresh Python process (so peak RSS is that run's own), which writes the
extract with :func:`rait_registry.synth.write_extract` and reports its wall time, CPU time
and peak resident set size (``resource.getrusage``). Target: 1 000 000 patients in under
2 minutes and under 4 GB on a 2-core machine.

Usage::

    python benchmarks/synth_scale.py                       # 10k, 100k, 1M
    python benchmarks/synth_scale.py --sizes 10000 100000 --format csv
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from rait_registry.synth import write_extract
n, fmt, out, chunk = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
t0, c0 = time.perf_counter(), time.process_time()
path = write_extract(out, n_patients=n, seed=0, fmt=fmt, chunk_size=chunk)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
manifest = json.loads((Path(path) / "manifest.json").read_text())
rows = sum(f["rows"] for f in manifest["files"].values())
size = sum(p.stat().st_size for p in Path(path).iterdir())
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": rows, "bytes": size}))
"""


def run(n: int, fmt: str, chunk: int, workdir: Path) -> dict:
    out = workdir / f"extract_{n}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), fmt, str(out), str(chunk)], capture_output=True, text=True, check=True
    )
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--chunk-size", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=None, help="Scratch folder (default: a temporary one).")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="synth_scale_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{'patients':>10} {'rows':>12} {'MB on disk':>11} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    try:
        for n in args.sizes:
            r = run(n, args.format, args.chunk_size, workdir)
            print(
                f"{n:>10,} {r['rows']:>12,} {r['bytes'] / 1e6:>11.1f} {r['wall_s']:>8.1f} "
                f"{r['cpu_s']:>8.1f} {r['peak_rss_mb']:>12.0f}",
                flush=True,
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
