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
            "imaging_findings.csv": "972555293b161168f75b3040632593c95afd2d0baaed39b1fbb21a44bff048e4",
            "lab_results.csv": "e202a2efc5c72e4d491f8e1a94ee7a17095af39c1c7feca98a176fbbd1347d4f",
            "manifest.json": "1591bdd2e0ffc2ff84124a1a8459038d945e150cb2c59abf7497930be3f3e8a0",
            "patients.csv": "5924918575150c5d36be46f7eddd5e39b5c2105c51d69b7ef3f98b54a697dbb4",
            "rait_administrations.csv": "05270c6a6000d1cd43feae8c80f56a3dc92965d00aa275f8b4d08bf3cd04caff",
            "surgeries.csv": "de0d6a0a4b1d6844b461e9145e3d570fbd60b38276b4bd50b12fd72fbf07cdac",
        },
    ),
    "parquet-50000-seed0": (
        ("--patients", "50000", "--seed", "0", "--format", "parquet"),
        {
            "follow_up.parquet": "d578d687c9b68aabf84b3581beb00e04be0366a5119f27b442d6656842633126",
            "imaging_findings.parquet": "cc02e61d9e7da06709554cbd01e107d64f63b194f53dc2037f1ef0e0fe95adf1",
            "lab_results.parquet": "794dbcfdc1046ba9bd8a8c0fb4a34bfbec589ac8ee96cb75669d7d5601f9e8ca",
            "manifest.json": "65b8718e56561de6bc6b3a899d18c28b16072e344556dafb45f437e2d598922e",
            "patients.parquet": "bc07012653116c6df3f3b5515cc7c37f4af79954163bc2c45d0fffc27ad2b3b2",
            "rait_administrations.parquet": "73adf42bc996c85826e658c1c4964c39ba26ccb326bc4f943fb95799a69a365f",
            "surgeries.parquet": "bb1435ca73062578b3a46b3c2fea38ef4d43d907c3455e8fba8731d5f3acab04",
        },
    ),
    "messy-300-seed1": (
        ("--patients", "300", "--seed", "1", "--messy", "--messy-rate", "0.05"),
        {
            "follow_up.csv": "7c8bdeb8462d7633966846285bd80004c578b872deb32627345a577918f78284",
            "imaging_findings.csv": "40dd3e8409461eafa4a787a52892a82ab19553b0ecc4851b023ba123b9cb04db",
            "lab_results.csv": "568960461d6ac214a5684dec2142c32810d2b456eeaf66231fd4d778128bd4c0",
            "manifest.json": "d847d1ca3a256597ff2920fda462908a95e2a941eb72fca22c830f8045eb9e78",
            "messy_expected_quarantine.csv": "1478f628711102ba2042b5007ee32dd4aede8bc3df7c50b722e3857613acea70",
            "patients.csv": "01e30a1389f34a15fbc43f62cb94865675a3641d8dd36d4dc26ec5515d095445",
            "rait_administrations.csv": "810a10b685644c5820d30a746947fed04b410ca648f4a52b45495c6a2144320c",
            "surgeries.csv": "f4c864d7dbedcd29dfe694d5eb1ea92015cdcd935d8c8b71b73c6a4760fb0eab",
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
