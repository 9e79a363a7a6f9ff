"""Synthetic registry simulator (``rait_registry.synth``).

What is checked:
- determinism (same seed -> same bytes and sha256; another seed -> other bytes), CSV and
  Parquet hold the same values, the manifest is right;
- docs/specification.md section 1 conformance of every table (columns, formats, vocabularies, ranges,
  keys, references, RxWBS links, date order, one follow_up row per patient), also through
  the project's real ingest row checks (nothing quarantined);
- raw-level distributions of a 20 000-patient registry against the PAPER's figures
  (Shi et al. 2025, Tables 1-2), and the cohort the contract rules derive from it
  (through the independent pandas oracle in ``tests/oracle``), within stated bands;
- the default registry (160 patients, seed 0) gives about the study's 117 patients, every
  eligibility step excluding several;
- a 10 000-patient Parquet smoke run, chunking that does not change the data, argument errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import re
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from rait_registry import synth
from rait_registry.contract import ACTIVITY_UNITS_TO_GBQ, LAB_UNITS, TABLES
from rait_registry.exceptions import UsageError
from rait_registry.synth import SCHEMAS, TABLE_NAMES, iter_blocks, simulate, write_extract

from .oracle import derive_marts

# --------------------------------------------------------------------------------------
# The study's figures (Shi et al. 2025) and the tolerance bands used against them.
# Bands are absolute (percentage points, years, cm, months) and are wide enough for the
# sampling noise of ~15 000 eligible patients plus the approximations the rules impose
# (e.g. the whole registry, not only the eligible cohort, for raw-level figures).
# --------------------------------------------------------------------------------------
PAPER = {
    "n_eligible": 117,
    "n_registry": 160,
    "n_o": 38,
    "n_m": 79,
    "age_o": 33.9,
    "age_m": 27.1,
    "age_all": 29.9,
    "female_pct": 61.5,
    "ptc_pct": 97.4,
    "size_median": 2.5,
    "t34_pct": 50.4,
    "n1b_pct": 88.0,
    "ata_high_pct": 95.7,
    "local_neither_pct": 65.8,
    "local_recurrence_pct": 8.5,
    "local_persistent_pct": 25.6,
    "local_persistent_o_pct": 7.9,
    "local_persistent_m_pct": 34.2,
    "synchronous_pct": 87.2,
    "synchronous_o_pct": 97.4,
    "synchronous_m_pct": 82.3,
    "usual_activity_gbq": 5.55,
    "cumulative_m_median": 14.80,
    "cycles_m_median": 3,
    "cycles_m_min": 2,
    "cycles_m_max": 7,
    "interval_median_months": 6.3,
    "interval_q1_months": 5.6,
    "interval_q3_months": 8.2,
    "first_response_pct": {"PR": 49.6, "SD": 41.0, "PD": 9.4},
    "last_response_m_pct": {"PR": 21.5, "SD": 53.2, "PD": 25.3},
    "pd_o_pct": 100 * 4 / 38,
    "pd_m_pct": 100 * 20 / 79,
    "pfs5_all": 76.6,
    "pfs5_o": 84.8,
    "pfs5_m": 72.9,
    "follow_up_median_months": 61.1,
    "follow_up_min_months": 13.0,
    "follow_up_max_months": 257.6,
    "or_age45_multi": 8.477,
    "or_local_persistent_multi": 9.143,
}
BIG_N, BIG_SEED = 20_000, 7


# --------------------------------------------------------------------------------------
# Fixtures (built once per module)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_csv(tmp_path_factory) -> Path:
    return write_extract(tmp_path_factory.mktemp("csv") / "extract", n_patients=160, seed=0, fmt="csv")


@pytest.fixture(scope="module")
def default_parquet(tmp_path_factory) -> Path:
    return write_extract(tmp_path_factory.mktemp("pq") / "extract", n_patients=160, seed=0, fmt="parquet")


@pytest.fixture(scope="module")
def default_tables() -> dict[str, pd.DataFrame]:
    return simulate(160, seed=0)


@pytest.fixture(scope="module")
def default_marts(default_tables) -> dict[str, pd.DataFrame]:
    return derive_marts(default_tables)


@pytest.fixture(scope="module")
def big() -> dict[str, pd.DataFrame]:
    return simulate(BIG_N, seed=BIG_SEED)


@pytest.fixture(scope="module")
def big_marts(big) -> dict[str, pd.DataFrame]:
    return derive_marts(big)


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text(encoding="utf-8"))


def _read_csv_typed(path: Path, table: str) -> pa.Table:
    """Read one CSV back with the Parquet schema (empty field = null, true/false booleans)."""
    opts = pacsv.ConvertOptions(
        column_types=SCHEMAS[table],
        strings_can_be_null=True,
        null_values=[""],
        true_values=["true"],
        false_values=["false"],
    )
    return pacsv.read_csv(path / f"{table}.csv", convert_options=opts)


# --------------------------------------------------------------------------------------
# Determinism, formats, manifest
# --------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(default_csv, default_parquet, tmp_path):
    again = write_extract(tmp_path / "again", n_patients=160, seed=0, fmt="csv")
    other = write_extract(tmp_path / "other", n_patients=160, seed=1, fmt="csv")
    pq_again = write_extract(tmp_path / "pq_again", n_patients=160, seed=0, fmt="parquet")
    assert _manifest(again) == _manifest(default_csv)
    assert _manifest(pq_again) == _manifest(default_parquet)
    for table in TABLE_NAMES:
        name = f"{table}.csv"
        assert (again / name).read_bytes() == (default_csv / name).read_bytes()
        assert _manifest(other)["files"][name]["sha256"] != _manifest(default_csv)["files"][name]["sha256"]


def test_csv_parquet_and_generator_hold_the_same_values(default_csv, default_parquet):
    blocks = list(iter_blocks(160, seed=0))
    assert len(blocks) == 1
    for table in TABLE_NAMES:
        from_csv = _read_csv_typed(default_csv, table)
        from_parquet = pq.read_table(default_parquet / f"{table}.parquet")
        assert from_parquet.schema.equals(SCHEMAS[table])
        assert from_csv.equals(from_parquet), table
        assert from_parquet.equals(blocks[0][table]), table


def test_manifest_rows_sha256_and_extracted_at(default_csv, default_parquet):
    for path, ext in ((default_csv, "csv"), (default_parquet, "parquet")):
        man = _manifest(path)
        assert set(man) == {"extract_id", "extracted_at", "files"}
        assert set(man["files"]) == {f"{t}.{ext}" for t in TABLE_NAMES}
        assert sorted(p.name for p in path.iterdir()) == sorted([*man["files"], "manifest.json"])
        for name, entry in man["files"].items():
            assert entry["sha256"] == hashlib.sha256((path / name).read_bytes()).hexdigest()
            rows = (
                sum(1 for _ in open(path / name, encoding="utf-8")) - 1
                if ext == "csv"
                else pq.ParquetFile(path / name).metadata.num_rows
            )
            assert entry["rows"] == rows
        # extracted_at: an ISO timestamp fixed by the data (the day after the last event)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T06:00:00Z", man["extracted_at"])
    assert _manifest(default_csv)["extracted_at"] == _manifest(default_parquet)["extracted_at"]


def test_csv_text_format(default_csv):
    """UTF-8, comma, header in contract order, ISO dates, true/false, empty = missing, no quoting."""
    for table in TABLE_NAMES:
        spec = TABLES[table]
        raw = (default_csv / f"{table}.csv").read_bytes()
        text = raw.decode("utf-8")
        assert '"' not in text and "\r" not in text
        with open(default_csv / f"{table}.csv", newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            assert header == spec.column_names
            for row in reader:
                assert len(row) == len(header)
                for col, value in zip(spec.columns, row):
                    if value == "":
                        assert not col.required, (table, col.name)
                        continue
                    assert value == value.strip()
                    if col.dtype == "date":
                        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (table, col.name)
                        dt.date.fromisoformat(value)
                    elif col.dtype == "boolean":
                        assert value in ("true", "false"), (table, col.name)
                    elif col.dtype == "integer":
                        assert re.fullmatch(r"\d+", value), (table, col.name)
                    elif col.dtype == "decimal":
                        assert re.fullmatch(r"\d+(\.\d+)?", value), (table, col.name, value)
                    elif col.vocabulary:
                        assert value in col.vocabulary, (table, col.name, value)


# --------------------------------------------------------------------------------------
# Contract conformance of the tables
# --------------------------------------------------------------------------------------


def _assert_conformant(t: dict[str, pd.DataFrame], last_allowed: pd.Timestamp) -> None:
    """Every docs/specification.md section 1 row rule, on typed frames from :func:`simulate`."""
    pats, surg, rait, labs, img, fu = (t[name] for name in TABLE_NAMES)
    for name, df in t.items():
        spec = TABLES[name]
        assert list(df.columns) == spec.column_names, name
        assert df[spec.key].notna().all() and df[spec.key].is_unique, name
        for c in spec.required_columns:
            assert df[c].notna().all(), (name, c)
        for col in spec.columns:
            values = df[col.name].dropna()
            if col.vocabulary:
                assert set(values) <= set(col.vocabulary), (name, col.name)
            if col.min_value is not None:
                v = values.astype(float)
                assert ((v >= col.min_value) if col.min_inclusive else (v > col.min_value)).all(), (name, col.name)
            if col.max_value is not None:
                v = values.astype(float)
                assert ((v <= col.max_value) if col.max_inclusive else (v < col.max_value)).all(), (name, col.name)
        if name != "patients":
            assert set(df["patient_id"]) <= set(pats["patient_id"]), name
    # exactly one follow_up per patient; death date iff dead
    assert fu["patient_id"].is_unique and set(fu["patient_id"]) == set(pats["patient_id"])
    dead = fu["vital_status"].eq("dead")
    assert fu.loc[dead, "death_date"].notna().all() and fu.loc[~dead, "death_date"].isna().all()
    # activities: contract units, plausible 0.5-15 GBq after conversion
    gbq = rait["activity"] * rait["activity_unit"].map(ACTIVITY_UNITS_TO_GBQ)
    assert gbq.notna().all() and gbq.between(0.5, 15.0).all()
    # lab units belong to their analyte; a cut-off only on TgAb rows
    for analyte, units in LAB_UNITS.items():
        assert set(labs.loc[labs["analyte"].eq(analyte), "unit"]) <= set(units), analyte
    assert labs.loc[~labs["analyte"].eq("TgAb"), "tgab_cutoff"].isna().all()
    # RxWBS rows carry an existing rait_id of the same patient, 0-14 days after it; others none
    rx = img[img["modality"].eq("RxWBS")]
    assert rx["rait_id"].notna().all() and img.loc[~img["modality"].eq("RxWBS"), "rait_id"].isna().all()
    j = rx.merge(rait[["rait_id", "patient_id", "admin_date"]], on="rait_id", suffixes=("", "_r"), how="left")
    assert j["admin_date"].notna().all() and (j["patient_id"] == j["patient_id_r"]).all()
    assert ((j["study_date"] - j["admin_date"]).dt.days.between(0, 14)).all()
    lung = rx[rx["site"].eq("lung")]
    assert set(lung["rait_id"]) == set(rx["rait_id"]), "every post-therapy scan has a lung row"
    assert lung["rai_avid"].notna().all() and lung["rait_id"].is_unique
    assert img.loc[img["remnant_uptake"].notna(), ["modality", "site"]].drop_duplicates().values.tolist() in (
        [],
        [["RxWBS", "thyroid_bed"]],
    )
    # one row per study and anatomic site; one result per analyte and sample date
    assert not img.duplicated(["patient_id", "study_date", "modality", "site"]).any()
    assert not labs.duplicated(["patient_id", "sample_date", "analyte"]).any()
    # date order: nothing before birth, after the last contact, the death or the extract date
    events = (
        pd.concat(
            [
                surg[["patient_id", "surgery_date"]].set_axis(["patient_id", "date"], axis=1),
                rait[["patient_id", "admin_date"]].set_axis(["patient_id", "date"], axis=1),
                labs[["patient_id", "sample_date"]].set_axis(["patient_id", "date"], axis=1),
                img[["patient_id", "study_date"]].set_axis(["patient_id", "date"], axis=1),
            ]
        )
        .merge(pats[["patient_id", "birth_date"]], on="patient_id")
        .merge(fu, on="patient_id")
    )
    assert (events["date"] >= events["birth_date"]).all()
    assert (events["date"] <= events["last_contact_date"]).all()
    assert (events["death_date"].isna() | (events["date"] <= events["death_date"])).all()
    assert events["date"].max() <= last_allowed
    assert (fu["last_contact_date"] <= last_allowed).all() and (fu["death_date"].dropna() <= last_allowed).all()
    assert (
        fu["last_contact_date"].values >= pats.set_index("patient_id").loc[fu["patient_id"], "birth_date"].values
    ).all()
    # no RAIT before the patient's first operation
    first_op = surg.groupby("patient_id")["surgery_date"].min()
    first_rait = rait.groupby("patient_id")["admin_date"].min()
    assert first_rait.index.isin(first_op.index).all()
    assert (first_rait >= first_op.reindex(first_rait.index)).all()


def test_default_registry_conforms_to_the_contract(default_tables, default_csv):
    extracted = pd.Timestamp(_manifest(default_csv)["extracted_at"][:10])
    _assert_conformant(default_tables, extracted - pd.Timedelta(days=1))


def test_large_registry_conforms_to_the_contract(big):
    _assert_conformant(big, pd.Timestamp(synth.DATA_CUTOFF))


def test_default_extract_passes_the_ingest_row_checks(default_csv):
    from rait_registry.ingest import ingest

    con = duckdb.connect()
    report = ingest(default_csv, con)
    assert report.warnings == []
    man = _manifest(default_csv)
    for table, load in report.tables.items():
        assert load.rows_read == man["files"][f"{table}.csv"]["rows"]
        assert load.rows_quarantined == 0, table
    assert con.execute("select count(*) from quarantine.rejected_rows").fetchone()[0] == 0


def test_simulate_returns_typed_frames(default_tables):
    s = default_tables["surgeries"]
    assert str(s["surgery_date"].dtype) == "datetime64[ns]"
    assert str(s["positive_nodes"].dtype) == "Int64"
    assert str(s["aggressive_variant"].dtype) == "boolean"
    assert s["max_tumor_size_cm"].dtype == np.float64
    assert str(default_tables["follow_up"]["death_date"].dtype) == "datetime64[ns]"
    pats = default_tables["patients"]
    assert pats["patient_id"].tolist() == [f"P{i:06d}" for i in range(1, 161)]
    for table, prefix in (
        ("surgeries", "S"),
        ("rait_administrations", "R"),
        ("lab_results", "L"),
        ("imaging_findings", "F"),
    ):
        key = default_tables[table][TABLES[table].key]
        assert key.str.fullmatch(prefix + r"\d{6,}").all()
        assert key.str.len().nunique() == 1  # fixed width: byte order = numeric order


# --------------------------------------------------------------------------------------
# The default registry through the contract rules (oracle)
# --------------------------------------------------------------------------------------


def test_default_registry_gives_the_study_cohort(default_marts):
    att = default_marts["cohort_attrition"].set_index("criterion")
    steps = [
        "dtc_surgery",
        "lung_only_micromets",
        "avid_on_every_rxwbs",
        "mets_after_first_rait",
        "massive_remnant",
        "early_progression",
    ]
    assert att.loc["all_patients", "n_remaining"] == PAPER["n_registry"]
    for step in steps:
        assert att.loc[step, "n_excluded"] >= 3, step
    cohort = default_marts["analysis_cohort"]
    assert abs(len(cohort) - PAPER["n_eligible"]) <= 5
    groups = cohort["rait_group"].value_counts()
    assert abs(groups["o-RAIT"] - PAPER["n_o"]) <= 4 and abs(groups["m-RAIT"] - PAPER["n_m"]) <= 4
    assert abs(int(cohort["pfs_event"].sum()) - 24) <= 4
    pfs = default_marts["pfs"]
    assert not pfs.loc[pfs["patient_id"].isin(cohort["patient_id"]), "event_type"].eq("death").any()
    # every eligible patient's first and last response is evaluable (the study had no NE)
    assert cohort["first_response"].isin(["PR", "SD", "PD"]).all()
    assert cohort["last_response"].isin(["PR", "SD", "PD"]).all()
    fu = cohort["follow_up_months"]
    assert fu.min() >= PAPER["follow_up_min_months"] and fu.max() <= PAPER["follow_up_max_months"] + 1


def test_default_registry_exercises_the_awkward_cases(default_tables, default_marts):
    """Units, TgAb-positive and unstimulated samples, lobectomy + completion, bone, no RAIT, deaths."""
    t = default_tables
    assert set(t["rait_administrations"]["activity_unit"]) == {"GBq", "MBq", "mCi"}
    labs = t["lab_results"]
    ab = labs[labs["analyte"].eq("TgAb")]
    cutoff = ab["tgab_cutoff"].fillna(115.0)
    assert ((ab["value"] >= cutoff) & ~ab["comparator"].eq("<")).sum() >= 3
    assert ab["tgab_cutoff"].isna().any() and ab["tgab_cutoff"].notna().any()
    tsh = labs[labs["analyte"].eq("TSH")]
    assert tsh["comparator"].eq(">").any() and tsh["comparator"].eq("<").any()
    assert tsh["value"].between(5, 30, inclusive="neither").any()  # an inadequately stimulated sample
    assert set(labs["unit"]) == {u for units in LAB_UNITS.values() for u in units}
    procs = set(t["surgeries"]["procedure"])
    assert {"lobectomy", "completion_thyroidectomy", "neck_dissection", "total_thyroidectomy"} <= procs
    img = t["imaging_findings"]
    assert img["site"].eq("bone").any() and img["status"].eq("new").any()
    assert img.loc[img["modality"].eq("RxWBS") & img["site"].eq("lung"), "rai_avid"].eq(False).any()
    conf = img.loc[img["site"].isin(["thyroid_bed", "neck_nodes"]), "confirmation"]
    assert {"cytology", "histology"} <= set(conf)
    pats = default_marts["patients"]
    assert pats["n_rait_cycles"].eq(0).sum() >= 2
    assert t["follow_up"]["vital_status"].eq("dead").any()
    # a RAIT whose post-therapy scan is missing
    assert not set(t["rait_administrations"]["rait_id"]) <= set(img["rait_id"].dropna())


def test_default_registry_holds_every_case_revision_2_reads_differently(default_tables, default_marts):
    """The cases of :mod:`rait_registry.synth.bounds`, each at least once in the default registry."""
    labs = default_tables["lab_results"]
    tsh, tgab = labs[labs["analyte"].eq("TSH")], labs[labs["analyte"].eq("TgAb")]
    assert (tsh["comparator"].eq("<") & tsh["value"].eq(30)).any()  # never stimulating
    assert (tsh["comparator"].eq(">") & tsh["value"].eq(30)).any()  # stimulating
    cutoff = tgab["tgab_cutoff"].fillna(115.0)
    assert (tgab["comparator"].eq("<") & (tgab["value"] > cutoff)).any()  # indeterminate
    assert (tgab["comparator"].eq(">") & (tgab["value"] < cutoff)).any()  # indeterminate
    cycles = default_marts["rait_cycles"]
    assert cycles["tg_pre_comparator"].eq("<").any() and cycles["tg_pre_comparator"].eq(">").any()
    assert cycles["tg_post_comparator"].eq(">").any()
    clear_scan = cycles["scan_change"].isin(["resolved", "absent"])
    assert (clear_scan & cycles["tg_post_comparator"].isna() & cycles["tg_post"].between(0.6, 0.99)).any()
    assert (clear_scan & cycles["tg_post_comparator"].eq("<") & cycles["tg_post"].isin([1.5, 2.0])).any()
    pats = default_marts["patients"].set_index("patient_id")
    # a remnant ablation whose RxWBS shows no lung disease, lung metastases found later: step 4
    rait, img = default_tables["rait_administrations"], default_tables["imaging_findings"]
    remnant = rait[rait["intent"].eq("remnant_ablation")]
    lung_rows = img[img["modality"].eq("RxWBS") & img["site"].eq("lung") & img["status"].eq("absent")]
    shown = remnant[remnant["rait_id"].isin(lung_rows["rait_id"])]["patient_id"]
    assert pats.loc[shown, "exclusion_reason"].eq("mets_after_first_rait").any()
    assert (pats["n_rait_without_rxwbs"] > 0).sum() >= 3
    # local disease anchored on the diagnosis (no initial operation on record), and unknown
    no_initial = pats["initial_surgery_date"].isna() & pats["n_rait_cycles"].gt(0)
    assert (no_initial & pats["diagnosis_date"].notna() & pats["local_disease_status"].eq("local_persistent")).any()
    assert pats["local_disease_status"].eq("unknown").any()
    pfs = default_marts["pfs"]
    assert (pfs["pfs_months"] < pfs["pfs_months_last_contact"]).sum() >= 10


def test_bound_cases_come_at_their_stated_rates(big):
    from rait_registry.synth import bounds

    labs = big["lab_results"]
    tsh = labs[labs["analyte"].eq("TSH")]
    below = (tsh["comparator"].eq("<") & tsh["value"].eq(30)).sum()
    not_stimulated = below + (tsh["comparator"].isna() & tsh["value"].between(5, 30, inclusive="left")).sum()
    assert below / not_stimulated == pytest.approx(bounds.TSH_NOT_STIMULATED_BELOW_30_SHARE, abs=0.01)
    tgab = labs[labs["analyte"].eq("TgAb")]
    cutoff = tgab["tgab_cutoff"].fillna(115.0)
    bound = (tgab["comparator"].eq("<") & (tgab["value"] > cutoff)) | (
        tgab["comparator"].eq(">") & (tgab["value"] < cutoff)
    )
    positive = tgab["comparator"].isna() & (tgab["value"] >= cutoff)
    assert bound.sum() / (bound.sum() + positive.sum()) == pytest.approx(bounds.TGAB_POSITIVE_AS_BOUND_SHARE, abs=0.01)
    treated = big["rait_administrations"]["patient_id"].nunique()
    tg = labs[labs["analyte"].eq("Tg")]
    above = tg[tg["comparator"].eq(">") & tg["value"].eq(bounds.TG_HIGH_ASSAY_UPPER)]["patient_id"].nunique()
    assert above / treated == pytest.approx(bounds.TG_HIGH_ASSAY_SHARE, abs=0.005)


# --------------------------------------------------------------------------------------
# A large registry against the paper
# --------------------------------------------------------------------------------------


def _pct(mask) -> float:
    return 100.0 * float(np.mean(mask))


def test_raw_distributions_match_the_paper(big):
    """Raw-level figures over the whole registry (no derivation rule involved)."""
    pats, surg, rait, fu = big["patients"], big["surgeries"], big["rait_administrations"], big["follow_up"]
    assert abs(_pct(pats["sex"].eq("F")) - PAPER["female_pct"]) <= 2.5
    # histology of the diagnostic operation (the registry also holds a few non-DTC histologies)
    hist = surg.dropna(subset=["histology"]).sort_values(["patient_id", "surgery_date", "surgery_id"])
    first_hist = hist.drop_duplicates("patient_id")["histology"]
    assert abs(_pct(first_hist.eq("PTC")) - PAPER["ptc_pct"]) <= 2.0
    # most advanced T and N over all operations
    t_rank = surg["t_stage"].map({s: i for i, s in enumerate(["T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b"])})
    t_max = t_rank.groupby(surg["patient_id"]).max().dropna()
    assert abs(_pct(t_max >= 3) - PAPER["t34_pct"]) <= 4.0
    n_rank = surg["n_stage"].map({"N0": 0, "N1a": 1, "N1b": 2})
    n_max = n_rank.groupby(surg["patient_id"]).max().dropna()
    assert abs(_pct(n_max == 2) - PAPER["n1b_pct"]) <= 3.0
    size = surg.dropna(subset=["histology"]).groupby("patient_id")["max_tumor_size_cm"].max()
    assert abs(size.median() - PAPER["size_median"]) <= 0.2
    # activity: 5.55 GBq is the usual one, all three units are used
    gbq = rait["activity"] * rait["activity_unit"].map(ACTIVITY_UNITS_TO_GBQ)
    assert np.isclose(gbq.median(), PAPER["usual_activity_gbq"], atol=0.01)
    assert _pct(np.isclose(gbq, 5.55, atol=0.01)) >= 40
    assert rait["activity_unit"].value_counts(normalize=True).min() >= 0.15
    # cycles per treated patient: about a third once (38/117), m-RAIT median 3 (2-7)
    n_cyc = rait.groupby("patient_id").size()
    assert abs(_pct(n_cyc == 1) - 100 * PAPER["n_o"] / PAPER["n_eligible"]) <= 3.0
    multi = n_cyc[n_cyc >= 2]
    assert multi.median() == PAPER["cycles_m_median"]
    assert multi.min() == PAPER["cycles_m_min"] and multi.max() == PAPER["cycles_m_max"]
    # interval between consecutive cycles (months)
    r = rait.sort_values(["patient_id", "admin_date"])
    gap = r.groupby("patient_id")["admin_date"].diff().dt.days.dropna() / 30.4375
    q1, med, q3 = gap.quantile([0.25, 0.5, 0.75])
    assert abs(med - PAPER["interval_median_months"]) <= 0.3
    assert abs(q1 - PAPER["interval_q1_months"]) <= 0.4 and abs(q3 - PAPER["interval_q3_months"]) <= 0.5
    # follow-up from the first RAIT to the last contact
    start = rait.groupby("patient_id")["admin_date"].min()
    months = (fu.set_index("patient_id").loc[start.index, "last_contact_date"] - start).dt.days / 30.4375
    assert abs(months.median() - PAPER["follow_up_median_months"]) <= 5.0


def test_derived_cohort_matches_the_paper(big_marts):
    """The cohort the contract rules derive (oracle) vs Tables 1-2 of the study."""
    att = big_marts["cohort_attrition"].set_index("criterion")
    c = big_marts["analysis_cohort"]
    o, m = c[c["rait_group"].eq("o-RAIT")], c[c["rait_group"].eq("m-RAIT")]
    assert abs(len(c) / BIG_N - PAPER["n_eligible"] / PAPER["n_registry"]) <= 0.02
    assert (att["n_excluded"].iloc[1:] >= 0.02 * BIG_N).all()
    assert abs(len(m) / len(c) - PAPER["n_m"] / PAPER["n_eligible"]) <= 0.02
    # Table 1
    assert abs(o["age_at_diagnosis_years"].median() - PAPER["age_o"]) <= 1.5
    assert abs(m["age_at_diagnosis_years"].median() - PAPER["age_m"]) <= 1.5
    assert abs(c["age_at_diagnosis_years"].median() - PAPER["age_all"]) <= 1.5
    assert abs(_pct(c["sex"].eq("F")) - PAPER["female_pct"]) <= 2.0
    assert abs(_pct(c["histology"].eq("PTC")) - PAPER["ptc_pct"]) <= 1.0
    assert abs(c["max_tumor_size_cm"].median() - PAPER["size_median"]) <= 0.2
    assert abs(_pct(c["t_stage_group"].eq("T3+T4")) - PAPER["t34_pct"]) <= 3.0
    assert abs(_pct(c["n_stage_max"].eq("N1b")) - PAPER["n1b_pct"]) <= 2.5
    assert abs(_pct(c["ata_risk"].eq("high")) - PAPER["ata_high_pct"]) <= 2.0
    local = c["local_disease_status"]
    assert abs(_pct(local.eq("neither")) - PAPER["local_neither_pct"]) <= 3.0
    assert abs(_pct(local.eq("local_recurrence")) - PAPER["local_recurrence_pct"]) <= 1.5
    assert abs(_pct(local.eq("local_persistent")) - PAPER["local_persistent_pct"]) <= 2.5
    assert abs(_pct(o["local_disease_status"].eq("local_persistent")) - PAPER["local_persistent_o_pct"]) <= 2.5
    assert abs(_pct(m["local_disease_status"].eq("local_persistent")) - PAPER["local_persistent_m_pct"]) <= 3.0
    assert abs(_pct(c["metastasis_timing"].eq("synchronous")) - PAPER["synchronous_pct"]) <= 2.0
    assert abs(_pct(o["metastasis_timing"].eq("synchronous")) - PAPER["synchronous_o_pct"]) <= 2.0
    assert abs(_pct(m["metastasis_timing"].eq("synchronous")) - PAPER["synchronous_m_pct"]) <= 2.5
    # Table 2
    assert np.isclose(c["median_activity_gbq"].median(), PAPER["usual_activity_gbq"], atol=0.01)
    assert abs(m["cumulative_gbq"].median() - PAPER["cumulative_m_median"]) <= 1.0
    assert m["n_rait_cycles"].median() == PAPER["cycles_m_median"]
    for resp, pct in PAPER["first_response_pct"].items():
        assert abs(_pct(c["first_response"].eq(resp)) - pct) <= 3.0, resp
    for resp, pct in PAPER["last_response_m_pct"].items():
        assert abs(_pct(m["last_response"].eq(resp)) - pct) <= 3.0, resp
    assert abs(_pct(o["pfs_event"].eq(1)) - PAPER["pd_o_pct"]) <= 2.0
    assert abs(_pct(m["pfs_event"].eq(1)) - PAPER["pd_m_pct"]) <= 2.0
    from lifelines import KaplanMeierFitter

    for d, key in ((c, "pfs5_all"), (o, "pfs5_o"), (m, "pfs5_m")):
        km = KaplanMeierFitter().fit(d["pfs_months"], d["pfs_event"])
        assert abs(100 * float(km.survival_function_at_times(60.0).iloc[0]) - PAPER[key]) <= 3.0, key
    pfs = big_marts["pfs"]
    assert not pfs.loc[pfs["patient_id"].isin(c["patient_id"]), "event_type"].eq("death").any()
    assert abs(c["follow_up_months"].median() - PAPER["follow_up_median_months"]) <= 4.0
    assert c["follow_up_months"].min() >= PAPER["follow_up_min_months"]


def test_progression_risk_follows_age_and_persistent_disease_not_cycles(big_marts):
    """Table 3: multivariable OR ~8.5 (age >= 45) and ~9.1 (local persistent); cycles ~ no effect."""
    import statsmodels.api as sm

    c = big_marts["analysis_cohort"]
    X = pd.DataFrame(
        {
            "age45": (c["age_at_diagnosis_years"] >= 45).astype(float),
            "lp": c["local_disease_status"].eq("local_persistent").astype(float),
            "lr": c["local_disease_status"].eq("local_recurrence").astype(float),
            "size": c["max_tumor_size_cm"].astype(float),
            "cycles": c["n_rait_cycles"].astype(float),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(c["pfs_event"].astype(float), sm.add_constant(X)).fit(disp=0)
    odds = np.exp(fit.params)
    assert abs(math.log(odds["age45"] / PAPER["or_age45_multi"])) <= math.log(1.6)
    assert abs(math.log(odds["lp"] / PAPER["or_local_persistent_multi"])) <= math.log(1.6)
    assert 0.85 <= odds["cycles"] <= 1.2


# --------------------------------------------------------------------------------------
# Scale, chunking, arguments
# --------------------------------------------------------------------------------------


def test_10k_parquet_smoke(tmp_path):
    out = write_extract(tmp_path / "x", n_patients=10_000, seed=5, fmt="parquet", chunk_size=3_000)
    man = _manifest(out)
    pats = pq.read_table(out / "patients.parquet")
    assert pats.num_rows == 10_000 == man["files"]["patients.parquet"]["rows"]
    assert pats["patient_id"][0].as_py() == "P000001" and pats["patient_id"][-1].as_py() == "P010000"
    for table in TABLE_NAMES:
        t = pq.read_table(out / f"{table}.parquet")
        assert t.num_rows == man["files"][f"{table}.parquet"]["rows"]
        key = TABLES[table].key
        assert pa.compute.count_distinct(t[key]).as_py() == t.num_rows or table == "follow_up"
    labs = pq.read_table(out / "lab_results.parquet", columns=["patient_id"])
    assert labs.num_rows > 10 * 10_000  # a realistic number of laboratory results per patient


def test_blocks_continue_ids_and_chunk_size_does_not_change_the_data(monkeypatch, tmp_path):
    monkeypatch.setattr(synth.blocks, "BLOCK_PATIENTS", 64)  # iter_blocks reads it there
    a = write_extract(tmp_path / "a", n_patients=200, seed=3, fmt="csv", chunk_size=1)
    b = write_extract(tmp_path / "b", n_patients=200, seed=3, fmt="csv", chunk_size=10_000)
    assert _manifest(a) == _manifest(b)
    tables = {t: _read_csv_typed(a, t).to_pandas() for t in TABLE_NAMES}
    for table in TABLE_NAMES:
        key = TABLES[table].key
        assert tables[table][key].is_unique, table
    assert tables["patients"]["patient_id"].tolist() == [f"P{i:06d}" for i in range(1, 201)]
    rx = tables["imaging_findings"].dropna(subset=["rait_id"])
    owner = tables["rait_administrations"].set_index("rait_id")["patient_id"]
    assert (rx["patient_id"].values == owner.loc[rx["rait_id"]].values).all()


def test_bad_arguments_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(UsageError, match="n_patients"):
        write_extract(tmp_path / "a", n_patients=0)
    with pytest.raises(UsageError, match="seed"):
        simulate(10, seed=-1)
    with pytest.raises(UsageError, match="csv"):
        write_extract(tmp_path / "b", n_patients=10, fmt="xlsx")
    write_extract(tmp_path / "c", n_patients=10, fmt="parquet")
    with pytest.raises(UsageError, match="ambiguous"):
        write_extract(tmp_path / "c", n_patients=10, fmt="csv")
