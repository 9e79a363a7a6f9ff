"""The synthetic registry, pinned byte for byte.

``rait-registry synth`` promises the same bytes for the same ``(patients, seed)`` on the same
library versions. This test pins the sha256 of every file it writes for three extracts:

- the demo registry, ``synth --patients 160 --seed 0`` (CSV);
- a Parquet registry of 50 000 patients, two and a half random blocks
  (``BLOCK_PATIENTS`` = 20 000), so that the per-block generators and the ids continuing
  across blocks are covered;
- a small messy registry, ``synth --patients 300 --seed 1 --messy --messy-rate 0.05``: the six
  broken tables and the answer key ``messy_expected_quarantine.csv``.

Every ``manifest.json`` is pinned too: ``extracted_at`` is derived from the data (the day after
its latest date), never from the clock. A refactoring of the generator must leave all of these
unchanged; a deliberate change of the simulated registry updates them in the same commit.
The hashes hold for the library versions of ``constraints.txt`` (pyarrow writes its version
into Parquet files; numpy's generators and pandas' CSV writer can change between versions).
To print the current hashes::

    .venv/bin/python tests/test_synth_pinned.py
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

#: The library versions the hashes were made with (those of constraints.txt).
PINNED_VERSIONS = {"numpy": "2.4.6", "pyarrow": "26.0.1", "pandas": "2.3.3"}

#: name -> (arguments of ``rait-registry synth``, {file: sha256}).
PINNED: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "csv-160-seed0": (
        ("--patients", "160", "--seed", "0"),
        {
            "follow_up.csv": "e5beed800f44d4e25781198c923b3055a821d245ed8f269a032762cd569aa034",
            "imaging_findings.csv": "0fa092a4f2b67ddbe95f7df1e652b9ab1759d45e0e528e8cdc64ab768e258d90",
            "lab_results.csv": "2f408300d063f00ece4703f7199de3044f29227db84fa48fc68f1be85970a0e9",
            "manifest.json": "4863a4f4510f2a462d294c63416442fa1bbfe2a10d3d6eb67243377cac50b64f",
            "patients.csv": "5924918575150c5d36be46f7eddd5e39b5c2105c51d69b7ef3f98b54a697dbb4",
            "rait_administrations.csv": "05270c6a6000d1cd43feae8c80f56a3dc92965d00aa275f8b4d08bf3cd04caff",
            "surgeries.csv": "cbb0c1d0bd3f4f7b5169f0ed9e1516e13457db3075b1dd79ceb4fb3fabf6d47f",
        },
    ),
    "parquet-50000-seed0": (
        ("--patients", "50000", "--seed", "0", "--format", "parquet"),
        {
            "follow_up.parquet": "d578d687c9b68aabf84b3581beb00e04be0366a5119f27b442d6656842633126",
            "imaging_findings.parquet": "e4efe0732f698b9a1b32276c3f623b1da5ec2ca5e9bbe4ff2490b8c7883f613a",
            "lab_results.parquet": "a429cc525fbe2e515aca1162680512d5117cffe12b22ff5d535e9fc37d909a91",
            "manifest.json": "6152b474330c69c3625ca01b4f20860d12569ff566927227be91504c248600dd",
            "patients.parquet": "bc07012653116c6df3f3b5515cc7c37f4af79954163bc2c45d0fffc27ad2b3b2",
            "rait_administrations.parquet": "73adf42bc996c85826e658c1c4964c39ba26ccb326bc4f943fb95799a69a365f",
            "surgeries.parquet": "fed6279185d81c86d3720214cddefa0a70422b9dce0f039087457f2720a1d816",
        },
    ),
    "messy-300-seed1": (
        ("--patients", "300", "--seed", "1", "--messy", "--messy-rate", "0.05"),
        {
            "follow_up.csv": "7c8bdeb8462d7633966846285bd80004c578b872deb32627345a577918f78284",
            "imaging_findings.csv": "eebc660d73d445b68d287de9700d1e521d9d841c51dc0d1089854cd92e734b3d",
            "lab_results.csv": "94edf6525fa00ec9ef930ba61690eaef246451b3fb71d5c6e819309505eaedbd",
            "manifest.json": "9e3ba29a7bbd6d02486b4d82f49c08ba6daf35ab400d9558bfb0bfeac76ce914",
            "messy_expected_quarantine.csv": "b0600105b82e29a7c0dbc549ffab55d3604f1f07f11a90909336869377d63492",
            "patients.csv": "26ddaed088052d91efc324a5dd30ebf1c0c7a14c7e15a13176866fd06ecdfb6c",
            "rait_administrations.csv": "9e86bdc2b2ba5efcef22c2f6f858af75065cf6e9d9004113fe7dc0cfb4544fba",
            "surgeries.csv": "b8b4104541093dca11245a7d57e61b0f4e7549b571256ab614819bf1a02e6f37",
        },
    ),
}


def _write(args: tuple[str, ...], out: Path) -> dict[str, str]:
    """Run ``rait-registry synth ARGS --out OUT``; return {file: sha256} of what it wrote."""
    proc = subprocess.run(
        [str(BIN / "rait-registry"), "synth", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"},
    )
    assert proc.returncode == 0, f"synth {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_library_versions_are_those_the_hashes_were_made_with():
    installed = {name: importlib.metadata.version(name) for name in PINNED_VERSIONS}
    assert installed == PINNED_VERSIONS, (
        "the pinned synth hashes were made with these library versions; install with "
        "`pip install -c constraints.txt -e .[dev]`, or regenerate the hashes after a deliberate upgrade"
    )


@pytest.mark.parametrize("name", list(PINNED))
def test_synth_writes_the_pinned_bytes(name, tmp_path):
    args, expected = PINNED[name]
    got = _write(args, tmp_path / name)
    assert sorted(got) == sorted(expected), f"{name}: files written differ"
    changed = [f for f in expected if got[f] != expected[f]]
    assert not changed, f"{name}: the bytes of {', '.join(changed)} changed"


if __name__ == "__main__":  # print the current hashes, to update PINNED after a deliberate change
    with tempfile.TemporaryDirectory() as scratch:
        for name, (args, _) in PINNED.items():
            print(name, args)
            for file, digest in _write(args, Path(scratch) / name).items():
                print(f'    "{file}": "{digest}",')
