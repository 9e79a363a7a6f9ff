"""The raw extract format of contract section 1, as data.

This module is the Python-side statement of the six raw tables: their columns, types,
whether a column is required, vocabularies (in contract spelling) and ranges. The ingest
step reads files with it; the row checks and the pandera raw models in ``schemas/`` are
kept in agreement with it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of a raw table."""

    name: str
    dtype: str  # "text" | "date" | "decimal" | "integer" | "boolean"
    required: bool = False
    vocabulary: tuple[str, ...] | None = None
    min_value: float | None = None
    min_inclusive: bool = True
    max_value: float | None = None
    max_inclusive: bool = True


@dataclass(frozen=True)
class Table:
    """One raw table of the extract."""

    name: str
    key: str
    columns: tuple[Column, ...]
    references: dict[str, str] = field(default_factory=dict)  # column -> table it must exist in

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


#: Calendar arithmetic of the derivation rules (docs/specification.md section 2): months and
#: years are days divided by these, never rounded.
DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25

#: The two treatment groups of the study (published as ``rait_group``); contrasts compare
#: m-RAIT with o-RAIT unless an analysis says otherwise.
O_RAIT = "o-RAIT"
M_RAIT = "m-RAIT"
RAIT_GROUPS = (O_RAIT, M_RAIT)

HISTOLOGIES = ("PTC", "FTC", "other")
PROCEDURES = (
    "total_thyroidectomy",
    "subtotal_thyroidectomy",
    "completion_thyroidectomy",
    "lobectomy",
    "neck_dissection",
    "other",
)
T_STAGES = ("T1a", "T1b", "T2", "T3a", "T3b", "T4a", "T4b", "TX")
N_STAGES = ("N0", "N1a", "N1b", "NX")
MODALITIES = ("RxWBS", "DxWBS", "CT", "US", "MRI", "PET_CT", "bone_scan")
SITES = ("lung", "thyroid_bed", "neck_nodes", "bone", "brain", "liver", "other")
FINDING_STATUSES = ("new", "present", "stable", "increased", "reduced", "resolved", "absent")
DISEASE_STATUSES = ("new", "present", "stable", "increased", "reduced")

# Accepted units and their factor to the canonical unit (contract section 1).
ACTIVITY_UNITS_TO_GBQ = {"GBq": 1.0, "MBq": 0.001, "mCi": 0.037}
LAB_UNITS = {
    "Tg": {"ng/mL": "ng/mL", "ug/L": "ng/mL"},
    "TgAb": {"IU/mL": "IU/mL", "kIU/L": "IU/mL"},
    "TSH": {"mIU/L": "mIU/L", "uIU/mL": "mIU/L"},
}
ACTIVITY_PLAUSIBLE_GBQ = (0.5, 15.0)

TABLES: dict[str, Table] = {
    "patients": Table(
        "patients",
        key="patient_id",
        columns=(
            Column("patient_id", "text", required=True),
            Column("sex", "text", required=True, vocabulary=("F", "M")),
            Column("birth_date", "date", required=True),
            Column("center_id", "text"),
        ),
    ),
    "surgeries": Table(
        "surgeries",
        key="surgery_id",
        references={"patient_id": "patients"},
        columns=(
            Column("surgery_id", "text", required=True),
            Column("patient_id", "text", required=True),
            Column("surgery_date", "date", required=True),
            Column("procedure", "text", required=True, vocabulary=PROCEDURES),
            Column("histology", "text", vocabulary=HISTOLOGIES),
            Column("max_tumor_size_cm", "decimal", min_value=0, min_inclusive=False, max_value=20),
            Column("t_stage", "text", vocabulary=T_STAGES),
            Column("n_stage", "text", vocabulary=N_STAGES),
            Column("ete", "text", vocabulary=("none", "microscopic", "gross")),
            Column("resection", "text", vocabulary=("R0", "R1", "R2")),
            Column("vascular_invasion_foci", "integer", min_value=0),
            Column("positive_nodes", "integer", min_value=0),
            Column("largest_node_cm", "decimal", min_value=0, min_inclusive=False),
            Column("aggressive_variant", "boolean"),
        ),
    ),
    "rait_administrations": Table(
        "rait_administrations",
        key="rait_id",
        references={"patient_id": "patients"},
        columns=(
            Column("rait_id", "text", required=True),
            Column("patient_id", "text", required=True),
            Column("admin_date", "date", required=True),
            Column("activity", "decimal", required=True, min_value=0, min_inclusive=False),
            Column("activity_unit", "text", required=True, vocabulary=tuple(ACTIVITY_UNITS_TO_GBQ)),
            Column("preparation", "text", vocabulary=("withdrawal", "rhTSH")),
            Column(
                "intent",
                "text",
                required=True,
                vocabulary=("remnant_ablation", "adjuvant", "metastatic_disease"),
            ),
        ),
    ),
    "lab_results": Table(
        "lab_results",
        key="lab_id",
        references={"patient_id": "patients"},
        columns=(
            Column("lab_id", "text", required=True),
            Column("patient_id", "text", required=True),
            Column("sample_date", "date", required=True),
            Column("analyte", "text", required=True, vocabulary=tuple(LAB_UNITS)),
            Column("value", "decimal", required=True, min_value=0),
            Column("comparator", "text", vocabulary=("<", ">")),
            Column(
                "unit",
                "text",
                required=True,
                vocabulary=tuple(sorted({u for units in LAB_UNITS.values() for u in units})),
            ),
            Column("tgab_cutoff", "decimal", min_value=0, min_inclusive=False),
        ),
    ),
    "imaging_findings": Table(
        "imaging_findings",
        key="finding_id",
        references={"patient_id": "patients", "rait_id": "rait_administrations"},
        columns=(
            Column("finding_id", "text", required=True),
            Column("patient_id", "text", required=True),
            Column("study_date", "date", required=True),
            Column("modality", "text", required=True, vocabulary=MODALITIES),
            Column("rait_id", "text"),  # required when modality = RxWBS
            Column("site", "text", required=True, vocabulary=SITES),
            Column("status", "text", required=True, vocabulary=FINDING_STATUSES),
            Column("rai_avid", "boolean"),
            Column("max_lesion_mm", "decimal", min_value=0, min_inclusive=False),
            Column("remnant_uptake", "text", vocabulary=("none", "minor", "massive")),
            Column("confirmation", "text", vocabulary=("imaging", "cytology", "histology")),
        ),
    ),
    "follow_up": Table(
        "follow_up",
        key="patient_id",
        references={"patient_id": "patients"},
        columns=(
            Column("patient_id", "text", required=True),
            Column("last_contact_date", "date", required=True),
            Column("vital_status", "text", required=True, vocabulary=("alive", "dead")),
            Column("death_date", "date"),  # required when vital_status = dead
        ),
    ),
}

TABLE_ORDER = ("patients", "follow_up", "surgeries", "rait_administrations", "lab_results", "imaging_findings")
