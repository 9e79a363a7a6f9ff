"""Fault injection: a clean simulated extract made messy, with an answer key.

:func:`inject_faults` takes the clean tables of :func:`rait_registry.synth.simulate`, turns them
into text as an export would, and breaks rows of each *fault class* of :data:`FAULTS` at a known
rate: bad dates, decimal commas, unknown units, duplicates, orphans, events after death... Every
broken row is recorded with the reason code the checks must give it, and the rows that must
follow it into quarantine (a quarantined patient takes all their rows, a quarantined
administration its post-therapy scans, a quarantined operation can leave an administration
before the patient's first operation) are worked out here, from the faults and the clean data,
*independently of* :mod:`rait_registry.checks` -- so a test can assert that exactly those rows
are quarantined, with the right reasons, and that the clean remainder builds.

Placement keeps each answer unambiguous: a row is broken at most once; faults whose reason
depends on other tables (orphans, date order) are placed on patients that receive no other
fault; harmless noise (vocabulary case and surrounding spaces, an unknown column) is added too
and must *not* be quarantined.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .contract import TABLE_ORDER, TABLES
from .exceptions import UsageError


@dataclass(frozen=True)
class Fault:
    """One class of fault: where it is injected and the reason code it must earn."""

    table: str
    column: str
    reason_code: str
    description: str
    cross_row: bool = False  # its reason depends on other tables: placed on otherwise untouched patients


#: Fault classes, by name.
FAULTS: dict[str, Fault] = {
    "us_date": Fault("lab_results", "sample_date", "invalid_date", "sample date written MM/DD/YYYY"),
    "impossible_date": Fault("imaging_findings", "study_date", "invalid_date", "study date on 30 February"),
    "decimal_comma": Fault("surgeries", "max_tumor_size_cm", "invalid_decimal", "tumour size with a decimal comma"),
    "text_in_number": Fault("lab_results", "value", "invalid_decimal", "lab value written as text"),
    "fractional_integer": Fault("surgeries", "positive_nodes", "invalid_integer", "node count with a fraction"),
    "bad_boolean": Fault("imaging_findings", "rai_avid", "invalid_boolean", "RAI avidity written yes/no"),
    "vocabulary_typo": Fault("imaging_findings", "site", "not_in_vocabulary", "site misspelt"),
    "unknown_unit": Fault("lab_results", "unit", "not_in_vocabulary", "Tg unit ng/dL (never converted)"),
    "unit_of_other_analyte": Fault("lab_results", "unit", "unit_not_valid_for_analyte", "TSH reported in IU/mL"),
    "out_of_range": Fault("surgeries", "max_tumor_size_cm", "out_of_range", "tumour size above 20 cm"),
    "negative_value": Fault("lab_results", "value", "out_of_range", "negative lab value"),
    "missing_required": Fault("patients", "sex", "missing_required", "sex left empty"),
    "activity_wrong_unit": Fault(
        "rait_administrations", "activity_unit", "activity_implausible", "activity unit swapped (implausible GBq)"
    ),
    "rxwbs_without_rait_id": Fault(
        "imaging_findings", "rait_id", "rait_id_required_for_rxwbs", "post-therapy scan without its rait_id"
    ),
    "dead_without_death_date": Fault(
        "follow_up", "death_date", "death_date_required_when_dead", "dead patient without death date"
    ),
    "alive_with_death_date": Fault("follow_up", "death_date", "death_date_when_alive", "alive patient with death date"),
    "date_after_extract": Fault("lab_results", "sample_date", "date_after_extract", "sample dated after the extract"),
    "exact_duplicate": Fault("lab_results", "lab_id", "exact_duplicate", "lab row exported twice"),
    "conflicting_duplicate": Fault(
        "rait_administrations", "rait_id", "duplicate_key", "two administrations share an id, different activity"
    ),
    "orphan": Fault("lab_results", "patient_id", "reference_missing", "lab row of an unknown patient", cross_row=True),
    "unknown_rait_id": Fault(
        "imaging_findings", "rait_id", "reference_missing", "scan linked to an unknown administration", cross_row=True
    ),
    "event_after_death": Fault(
        "lab_results", "sample_date", "date_after_death", "sample dated after the death", cross_row=True
    ),
    "event_after_last_contact": Fault(
        "imaging_findings", "study_date", "date_after_last_contact", "finding after the last contact", cross_row=True
    ),
    "event_before_birth": Fault(
        "lab_results", "sample_date", "date_before_birth", "sample before birth", cross_row=True
    ),
    "rait_before_surgery": Fault(
        "rait_administrations",
        "admin_date",
        "rait_before_first_surgery",
        "RAIT before the first operation",
        cross_row=True,
    ),
}

#: Reason codes a cascaded (not directly broken) row may carry.
CASCADE_CODES = frozenset({"reference_quarantined", "no_valid_follow_up", "rait_before_first_surgery"})

_UID = "_messy_uid"


@dataclass
class MessyExtract:
    """A messy extract and its answer key.

    Attributes
    ----------
    tables
        The six tables as text (``None`` = empty field), in file order, plus an unknown column
        ``notes`` in ``patients``.
    extracted_at
        The extract date (the day after the latest clean date).
    expected
        One row per row that must be quarantined: ``table``, ``source_row``, ``kind``
        (``direct`` or ``cascade``), ``fault`` (the fault class, empty for a cascade) and
        ``reason_code`` (the code a direct fault must earn; empty for a cascade).
    counts
        Rows broken per fault class.
    noise
        Rows changed harmlessly (case / spaces in vocabulary values) that must stay accepted.
    """

    tables: dict[str, pd.DataFrame]
    extracted_at: dt.date
    expected: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    noise: int = 0


# ---------------------------------------------------------------------------------------------
# text as an export writes it
# ---------------------------------------------------------------------------------------------


def _column_text(series: pd.Series, dtype: str) -> list:
    """One typed column as export text (``None`` for missing), vectorised."""
    present = series.notna().to_numpy()
    if dtype == "date":
        text = pd.to_datetime(series).dt.strftime("%Y-%m-%d")
    elif dtype == "boolean":
        text = series.map(lambda v: "true" if v else "false", na_action="ignore")
    elif dtype == "integer":
        text = series.map(lambda v: str(int(v)), na_action="ignore")
    elif dtype == "decimal":
        text = series.map(lambda v: repr(float(v)), na_action="ignore")
    else:
        text = series.map(str, na_action="ignore")
    return [t if ok else None for t, ok in zip(text.tolist(), present)]


def to_text(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Typed clean tables (as :func:`~rait_registry.synth.simulate` returns them) as export text."""
    out = {}
    for table in TABLE_ORDER:
        frame = tables[table]
        text = pd.DataFrame({c.name: _column_text(frame[c.name], c.dtype) for c in TABLES[table].columns}, dtype=object)
        text[_UID] = [f"{table}:{i}" for i in range(len(text))]
        out[table] = text
    return out


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---------------------------------------------------------------------------------------------
# injection
# ---------------------------------------------------------------------------------------------


class _Injector:
    def __init__(self, tables: dict[str, pd.DataFrame], rate: float, rng: np.random.Generator, extracted_at: dt.date):
        self.t = tables
        self.rate = rate
        self.rng = rng
        self.extracted_at = extracted_at
        self.used_rows: set[str] = set()  # uids of rows already broken or copied
        self.reserved: set[str] = set()  # patients kept for cross-row faults
        self.touched: set[str] = set()  # patients that received any fault
        self.direct: list[tuple[str, str, str]] = []  # (uid, fault, reason)
        self.counts: dict[str, int] = {}
        self.inserts: dict[str, list[tuple[str, dict]]] = {t: [] for t in TABLE_ORDER}  # after uid -> new row

    def n_for(self, eligible: int) -> int:
        if eligible == 0 or self.rate <= 0:
            return 0
        return min(eligible, max(1, int(round(self.rate * eligible))))

    def pick(self, table: str, mask: pd.Series, fault: str, cross_row: bool = False) -> pd.DataFrame:
        frame = self.t[table]
        mask = mask & ~frame[_UID].isin(self.used_rows)
        patients = frame["patient_id"]
        if cross_row:
            mask &= ~patients.isin(self.touched) & ~patients.isin(self.reserved)
        else:
            mask &= ~patients.isin(self.reserved)
        candidates = frame[mask]
        if cross_row:  # one row per patient (rate = share of eligible patients), so each has one known cause
            candidates = candidates.drop_duplicates("patient_id")
        n = self.n_for(len(candidates))
        chosen = (
            candidates.iloc[np.sort(self.rng.choice(len(candidates), size=n, replace=False))]
            if n
            else candidates.iloc[:0]
        )
        self.used_rows.update(chosen[_UID])
        if cross_row:
            self.reserved.update(chosen["patient_id"])
        else:
            self.touched.update(chosen["patient_id"])
        self.counts[fault] = len(chosen)
        return chosen

    def set(self, table: str, rows: pd.DataFrame, column: str, values, fault: str) -> None:
        frame = self.t[table]
        index = rows.index
        frame.loc[index, column] = pd.Series(list(values), index=index, dtype=object)
        self.direct.extend((uid, fault, FAULTS[fault].reason_code) for uid in rows[_UID])

    def patient_dates(self) -> pd.DataFrame:
        fu = self.t["follow_up"].set_index("patient_id")
        pt = self.t["patients"].set_index("patient_id")
        return pd.DataFrame(
            {
                "birth": pt["birth_date"].map(_date),
                "last_contact": fu["last_contact_date"].map(_date),
                "death": fu["death_date"].map(lambda v: None if v is None else _date(v)),
                "vital": fu["vital_status"],
            }
        )

    def run(self) -> None:
        t, rng = self.t, self.rng
        dates = self.patient_dates()
        lab, img, srg, rait, fu = (
            t["lab_results"],
            t["imaging_findings"],
            t["surgeries"],
            t["rait_administrations"],
            t["follow_up"],
        )
        true = lambda frame: pd.Series(True, index=frame.index)  # noqa: E731

        # cross-row faults first: they need patients nobody else touches
        rows = self.pick("lab_results", true(lab), "orphan", cross_row=True)
        self.set("lab_results", rows, "patient_id", [f"ZZ-ORPHAN-{i:05d}" for i in range(len(rows))], "orphan")

        rows = self.pick("imaging_findings", img["rait_id"].notna(), "unknown_rait_id", cross_row=True)
        self.set("imaging_findings", rows, "rait_id", [f"ZZ-RAIT-{i:05d}" for i in range(len(rows))], "unknown_rait_id")

        dead = lab["patient_id"].map(dates["vital"]).eq("dead")
        rows = self.pick("lab_results", dead, "event_after_death", cross_row=True)
        # extracted_at is after every clean date, so death + 1 day <= extracted_at
        new = [
            min(dates.at[pid, "death"] + dt.timedelta(days=int(rng.integers(1, 31))), self.extracted_at).isoformat()
            for pid in rows["patient_id"]
        ]
        self.set("lab_results", rows, "sample_date", new, "event_after_death")

        alive = img["patient_id"].map(dates["vital"]).eq("alive")
        rows = self.pick("imaging_findings", alive, "event_after_last_contact", cross_row=True)
        new = [
            min(
                dates.at[pid, "last_contact"] + dt.timedelta(days=int(rng.integers(1, 31))), self.extracted_at
            ).isoformat()
            for pid in rows["patient_id"]
        ]
        self.set("imaging_findings", rows, "study_date", new, "event_after_last_contact")

        rows = self.pick("lab_results", true(lab), "event_before_birth", cross_row=True)
        new = [
            (dates.at[pid, "birth"] - dt.timedelta(days=int(rng.integers(1, 366)))).isoformat()
            for pid in rows["patient_id"]
        ]
        self.set("lab_results", rows, "sample_date", new, "event_before_birth")

        first_surgery = srg.groupby("patient_id")["surgery_date"].min().map(_date)
        has_surgery = rait["patient_id"].isin(first_surgery.index)
        rows = self.pick("rait_administrations", has_surgery, "rait_before_surgery", cross_row=True)
        new = [
            max(first_surgery[pid] - dt.timedelta(days=int(rng.integers(1, 60))), dates.at[pid, "birth"]).isoformat()
            for pid in rows["patient_id"]
        ]
        self.set("rait_administrations", rows, "admin_date", new, "rait_before_surgery")

        # row faults
        rows = self.pick("lab_results", true(lab), "us_date")
        self.set(
            "lab_results", rows, "sample_date", [f"{d[5:7]}/{d[8:10]}/{d[:4]}" for d in rows["sample_date"]], "us_date"
        )

        rows = self.pick("imaging_findings", true(img), "impossible_date")
        self.set(
            "imaging_findings", rows, "study_date", [f"{d[:4]}-02-30" for d in rows["study_date"]], "impossible_date"
        )

        rows = self.pick("surgeries", srg["max_tumor_size_cm"].notna(), "decimal_comma")
        self.set(
            "surgeries",
            rows,
            "max_tumor_size_cm",
            [f"{float(v):.1f}".replace(".", ",") for v in rows["max_tumor_size_cm"]],
            "decimal_comma",
        )

        rows = self.pick("lab_results", true(lab), "text_in_number")
        self.set(
            "lab_results",
            rows,
            "value",
            [rng.choice(["positive", "n/a", "see report", "<0.1"]) for _ in range(len(rows))],
            "text_in_number",
        )

        rows = self.pick("surgeries", srg["positive_nodes"].notna(), "fractional_integer")
        self.set(
            "surgeries", rows, "positive_nodes", [f"{int(v)}.5" for v in rows["positive_nodes"]], "fractional_integer"
        )

        rows = self.pick("imaging_findings", img["rai_avid"].notna(), "bad_boolean")
        self.set(
            "imaging_findings",
            rows,
            "rai_avid",
            ["yes" if v == "true" else "no" for v in rows["rai_avid"]],
            "bad_boolean",
        )

        rows = self.pick("imaging_findings", true(img), "vocabulary_typo")
        self.set(
            "imaging_findings",
            rows,
            "site",
            [f"{v}s" if v != "other" else "others" for v in rows["site"]],
            "vocabulary_typo",
        )

        rows = self.pick("lab_results", lab["analyte"].eq("Tg"), "unknown_unit")
        self.set("lab_results", rows, "unit", ["ng/dL"] * len(rows), "unknown_unit")

        rows = self.pick("lab_results", lab["analyte"].eq("TSH"), "unit_of_other_analyte")
        self.set("lab_results", rows, "unit", ["IU/mL"] * len(rows), "unit_of_other_analyte")

        rows = self.pick("surgeries", srg["max_tumor_size_cm"].notna(), "out_of_range")
        self.set(
            "surgeries",
            rows,
            "max_tumor_size_cm",
            [f"{20 + float(rng.uniform(1, 30)):.1f}" for _ in range(len(rows))],
            "out_of_range",
        )

        rows = self.pick("lab_results", true(lab), "negative_value")
        self.set(
            "lab_results",
            rows,
            "value",
            [f"-{float(v):g}" if float(v) > 0 else "-1" for v in rows["value"]],
            "negative_value",
        )

        rows = self.pick("patients", true(t["patients"]), "missing_required")
        self.set("patients", rows, "sex", [rng.choice(["", "  "]) for _ in range(len(rows))], "missing_required")

        swap = {"GBq": "MBq", "mCi": "GBq", "MBq": "GBq"}
        rows = self.pick("rait_administrations", true(rait), "activity_wrong_unit")
        self.set(
            "rait_administrations",
            rows,
            "activity_unit",
            [swap[u] for u in rows["activity_unit"]],
            "activity_wrong_unit",
        )

        rows = self.pick("imaging_findings", img["modality"].eq("RxWBS"), "rxwbs_without_rait_id")
        self.set("imaging_findings", rows, "rait_id", [None] * len(rows), "rxwbs_without_rait_id")

        rows = self.pick("follow_up", fu["vital_status"].eq("dead"), "dead_without_death_date")
        self.set("follow_up", rows, "death_date", [None] * len(rows), "dead_without_death_date")

        rows = self.pick("follow_up", fu["vital_status"].eq("alive"), "alive_with_death_date")
        self.set("follow_up", rows, "death_date", list(rows["last_contact_date"]), "alive_with_death_date")

        late = (self.extracted_at + dt.timedelta(days=1)).isoformat()
        rows = self.pick("lab_results", true(lab), "date_after_extract")
        self.set("lab_results", rows, "sample_date", [late] * len(rows), "date_after_extract")

        # duplicates: the copy follows its original in the file
        rows = self.pick("lab_results", true(lab), "exact_duplicate")
        for _, row in rows.iterrows():
            copy = row.to_dict()
            copy[_UID] = row[_UID] + ":copy"
            self.inserts["lab_results"].append((row[_UID], copy))
            self.direct.append((copy[_UID], "exact_duplicate", "exact_duplicate"))

        rows = self.pick("rait_administrations", true(rait), "conflicting_duplicate")
        for _, row in rows.iterrows():
            copy = row.to_dict()
            copy[_UID] = row[_UID] + ":conflict"
            copy["activity"] = f"{float(row['activity']) * 1.01:.6g}"
            self.inserts["rait_administrations"].append((row[_UID], copy))
            self.direct.append((row[_UID], "conflicting_duplicate", "duplicate_key"))
            self.direct.append((copy[_UID], "conflicting_duplicate", "duplicate_key"))

        # harmless noise: vocabulary case and surrounding spaces (must stay accepted)
        self.noise = 0
        for table, column in (("imaging_findings", "status"), ("lab_results", "analyte"), ("surgeries", "procedure")):
            frame = t[table]
            mask = ~frame[_UID].isin(self.used_rows) & frame[column].notna()
            n = self.n_for(int(mask.sum()))
            index = frame[mask].index[np.sort(rng.choice(int(mask.sum()), size=n, replace=False))] if n else []
            frame.loc[index, column] = [f" {str(v).upper()} " for v in frame.loc[index, column]]
            self.noise += len(index)

    def finish(self) -> dict[str, pd.DataFrame]:
        """Tables with the duplicates inserted after their originals."""
        out = {}
        for table in TABLE_ORDER:
            frame = self.t[table]
            if self.inserts[table]:
                after: dict[str, list[dict]] = {}
                for uid, row in self.inserts[table]:
                    after.setdefault(uid, []).append(row)
                records = []
                for row in frame.to_dict("records"):
                    records.append(row)
                    records.extend(after.get(row[_UID], []))
                frame = pd.DataFrame(records, columns=frame.columns, dtype=object)
            out[table] = frame.reset_index(drop=True)
        return out


def _cascade(tables: dict[str, pd.DataFrame], direct: set[str]) -> set[str]:
    """Rows (uids) that must follow the directly broken rows into quarantine, to a fixed point.

    Independent of :mod:`rait_registry.checks`: the rules are stated on the clean data and the
    known faults, not evaluated on text.
    """
    out = set(direct)
    patients, follow_up = tables["patients"], tables["follow_up"]
    surgeries, raits, findings = tables["surgeries"], tables["rait_administrations"], tables["imaging_findings"]
    while True:
        before = len(out)
        ok_patients = set(patients.loc[~patients[_UID].isin(out), "patient_id"])
        ok_follow_up = set(follow_up.loc[~follow_up[_UID].isin(out), "patient_id"])
        # a patient without an accepted follow_up row goes, with all their rows
        out |= set(patients.loc[~patients["patient_id"].isin(ok_follow_up), _UID])
        valid = ok_patients & ok_follow_up
        for table in TABLE_ORDER:
            frame = tables[table]
            out |= set(frame.loc[~frame["patient_id"].isin(valid), _UID])
        # an administration before the first accepted operation; scans of quarantined administrations
        first = surgeries[~surgeries[_UID].isin(out)].groupby("patient_id")["surgery_date"].min()
        admin_first = raits["patient_id"].map(first)
        before_first = admin_first.notna() & (raits["admin_date"] < admin_first)
        out |= set(raits.loc[before_first, _UID])
        ok_raits = set(raits.loc[~raits[_UID].isin(out), "rait_id"])
        linked = findings["rait_id"].notna() & ~findings["rait_id"].isin(ok_raits)
        out |= set(findings.loc[linked, _UID])
        if len(out) == before:
            return out


def inject_faults(
    tables: dict[str, pd.DataFrame],
    rate: float = 0.02,
    seed: int = 0,
    extracted_at: dt.date | None = None,
) -> MessyExtract:
    """Break rows of every fault class of :data:`FAULTS` and work out what must be quarantined.

    Parameters
    ----------
    tables
        Clean typed tables, as :func:`rait_registry.synth.simulate` returns them.
    rate
        Share of the eligible rows of each fault class to break (at least one row per class when
        the class has an eligible row; cross-row classes break one row per patient).
    seed
        Seed of the fault placement.
    extracted_at
        Extract date; default the day after the latest date of the clean tables.

    Returns
    -------
    MessyExtract
        The messy tables (text) and the answer key.
    """
    if not 0 <= rate <= 0.2:
        raise UsageError(f"rate must be between 0 and 0.2 (got {rate}); faults would overlap beyond that.")
    text = to_text(tables)
    if extracted_at is None:
        latest = max(
            pd.to_datetime(frame[c.name]).max()
            for table, frame in tables.items()
            for c in TABLES[table].columns
            if c.dtype == "date" and frame[c.name].notna().any()
        )
        extracted_at = (latest + pd.Timedelta(days=1)).date()
    injector = _Injector(text, rate, np.random.default_rng(seed), extracted_at)
    injector.run()
    final = injector.finish()

    # cascades are worked out on the semantic (clean or injected) values, keyed by uid
    semantic = {t: f.copy() for t, f in final.items()}
    for frame in semantic.values():
        for column in ("surgery_date", "admin_date"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d", errors="coerce")
    direct_uids = {uid for uid, _, _ in injector.direct}
    must_go = _cascade(semantic, direct_uids)

    records = []
    faults_of = {}
    for uid, fault, reason in injector.direct:
        faults_of.setdefault(uid, (fault, reason))
    for table in TABLE_ORDER:
        frame = final[table]
        for position, uid in enumerate(frame[_UID], start=1):
            if uid in must_go:
                fault, reason = faults_of.get(uid, ("", ""))
                records.append(
                    {
                        "table": table,
                        "source_row": position,
                        "kind": "direct" if fault else "cascade",
                        "fault": fault,
                        "reason_code": reason,
                    }
                )
    expected = pd.DataFrame(records, columns=["table", "source_row", "kind", "fault", "reason_code"])

    out_tables = {}
    for table in TABLE_ORDER:
        frame = final[table].drop(columns=[_UID])
        if table == "patients":
            frame["notes"] = "free text the registry never exports"  # an unknown column: dropped with a warning
        out_tables[table] = frame
    return MessyExtract(out_tables, extracted_at, expected, dict(injector.counts), injector.noise)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_tables(messy: MessyExtract, out_dir: str | Path, fmt: str = "csv", extract_id: str = "messy") -> Path:
    """Write the tables of ``messy`` as an extract: table files, ``manifest.json`` (rows, sha256,
    ``extracted_at``) and the answer key ``messy_expected_quarantine.csv`` (not a table file:
    ingest ignores it). Parquet files hold text columns, as an export of text would."""
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"fmt must be 'csv' or 'parquet' (got {fmt!r}).")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for table, frame in messy.tables.items():
        path = out / f"{table}.{fmt}"
        other = out / f"{table}.{'parquet' if fmt == 'csv' else 'csv'}"
        if other.exists():
            raise UsageError(f"{out} already holds {other.name}; choose an empty folder.")
        if fmt == "csv":
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(frame.columns)
                writer.writerows([["" if v is None else v for v in row] for row in frame.itertuples(index=False)])
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.table({c: pa.array(frame[c].tolist(), type=pa.string()) for c in frame.columns})
            pq.write_table(arrow, path)
        files[path.name] = {"rows": len(frame), "sha256": _sha256(path)}
    manifest = {"extract_id": extract_id, "extracted_at": messy.extracted_at.isoformat(), "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    messy.expected.to_csv(out / "messy_expected_quarantine.csv", index=False)
    return out


def write_messy_extract(
    out_dir: str | Path,
    n_patients: int = 160,
    seed: int = 0,
    rate: float = 0.02,
    fmt: str = "csv",
    centres: int | None = None,
) -> tuple[Path, MessyExtract]:
    """Simulate a registry (:func:`rait_registry.synth.simulate`, ``centres`` as there), inject faults and write it.

    Returns
    -------
    (Path, MessyExtract)
        The extract folder (see :func:`write_tables`) and the messy extract with its answer key.
    """
    from .synth import simulate

    if fmt not in ("csv", "parquet"):
        raise UsageError(f"fmt must be 'csv' or 'parquet' (got {fmt!r}).")
    messy = inject_faults(simulate(n_patients, seed, centres), rate=rate, seed=seed)
    in_centres = "" if centres is None else f"-centres{centres}"
    out = write_tables(messy, out_dir, fmt, extract_id=f"synth-messy-n{n_patients}-seed{seed}{in_centres}-rate{rate:g}")
    return out, messy
