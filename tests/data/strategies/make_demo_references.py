"""Write the target-trial emulation's demo data sets that tests/r/strategies_references.R refits.

Usage (repository root; a demo warehouse from ``make demo`` or any ``rait-registry refresh`` of
``rait-registry synth --patients 160 --seed 0``)::

    python tests/data/strategies/make_demo_references.py WAREHOUSE
    Rscript tests/r/strategies_references.R tests/data/strategies/demo_clones.csv.gz \\
        tests/data/strategies/demo_design.csv.gz tests/data/r_reference/strategies_demo.json

``demo_clones.csv.gz`` is ``TargetTrialEmulation(n_bootstrap=0).fit(...).clones_`` and
``demo_design.csv.gz`` its ``design_frame()``, with every double written to round trip.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rait_registry.analysis.missing import as_missing
from rait_registry.analysis.strategies import TargetTrialEmulation
from rait_registry.warehouse import read_published

HERE = Path(__file__).parent
GZIP = {"method": "gzip", "mtime": 0}


def main(warehouse: str) -> None:
    marts = read_published(warehouse)
    tte = TargetTrialEmulation(n_bootstrap=0).fit(as_missing(marts.strategy_cohort), marts.strategy_months)
    tte.clones_.to_csv(HERE / "demo_clones.csv.gz", index=False, float_format="%.17g", compression=GZIP)
    tte.design_frame().to_csv(HERE / "demo_design.csv.gz", index=False, float_format="%.17g", compression=GZIP)


if __name__ == "__main__":
    main(sys.argv[1])
