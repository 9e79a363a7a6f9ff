"""The raw extract format (``docs/specification.md`` section 1), as data: the single source.

This module states, once, the six raw tables of an extract: their columns, types, whether a
column is required, vocabularies (in the spelling the project stores), ranges, units, a
description and an example value of every column. Everything else is generated from it:

* the row checks of :mod:`rait_registry.checks` (SQL in DuckDB: types, vocabularies, ranges,
  required values, keys, references);
* the pandera raw models of ``schemas/raw.py`` (fields, parsers, dtypes, vocabulary and range
  checks);
* section 1 of ``docs/specification.md`` (:func:`rait_registry.specification.render_extract_format`);
* the vocabularies of the mart models (``schemas/marts.py``).

It also holds the vocabularies that the derivation rules (section 2) give the published marts
(responses, event types, eligibility criteria...), so that the mart models and the specification
read them from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The column types of the extract and how a value is written in a CSV file.
DTYPES: dict[str, str] = {
    "text": "any text; surrounding spaces are trimmed, an empty field is missing",
    "date": "a calendar date written YYYY-MM-DD",
    "decimal": "a finite number with an optional sign, '.' as decimal mark and an optional exponent",
    "integer": "a whole number (an integral decimal such as 3.0 is accepted)",
    "boolean": "true or false (any letter case)",
}


@dataclass(frozen=True)
class Column:
    """One column of a raw table.

    Attributes
    ----------
    name : str
        The column's name in the extract.
    dtype : str
        One of :data:`DTYPES`.
    required : bool
        A row without a value is quarantined (``missing_required``).
    vocabulary : tuple of str or None
        The allowed values, in the spelling the project stores (matched case-insensitively).
    min_value, max_value : float or None
        Allowed range; ``min_inclusive`` / ``max_inclusive`` say whether the bound is allowed.
    description : str
        What the column holds, in one or two sentences (for the specification, dbt docs and
        the pandera models).
    unit : str or None
        The unit of a numeric value, when the column has a fixed one.
    example : str or None
        A valid value as written in a CSV file (the examples of a table form a valid row).
    required_when : str or None
        The condition under which an otherwise optional value is required (documentation of a
        cross-column rule of :mod:`rait_registry.checks`).
    """

    name: str
    dtype: str  # one of DTYPES
    required: bool = False
    vocabulary: tuple[str, ...] | None = None
    min_value: float | None = None
    min_inclusive: bool = True
    max_value: float | None = None
    max_inclusive: bool = True
    description: str = ""
    unit: str | None = None
    example: str | None = None
    required_when: str | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.name}: dtype must be one of {', '.join(DTYPES)}")

    @property
    def range_text(self) -> str | None:
        """The allowed range in words (``> 0``, ``> 0 and <= 20``), None when unbounded."""
        parts = []
        if self.min_value is not None:
            parts.append(f"{'>=' if self.min_inclusive else '>'} {_number(self.min_value)}")
        if self.max_value is not None:
            parts.append(f"{'<=' if self.max_inclusive else '<'} {_number(self.max_value)}")
        return " and ".join(parts) or None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Table:
    """One raw table of the extract."""

    name: str
    key: str
    columns: tuple[Column, ...]
    references: dict[str, str] = field(default_factory=dict)  # column -> table it must exist in
    description: str = ""  # the grain and what a row records

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


# -- vocabularies of the extract (section 1) --------------------------------------------------

SEXES = ("F", "M")
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
ETE_GRADES = ("none", "microscopic", "gross")
RESECTIONS = ("R0", "R1", "R2")
PREPARATIONS = ("withdrawal", "rhTSH")
INTENTS = ("remnant_ablation", "adjuvant", "metastatic_disease")
COMPARATORS = ("<", ">")
MODALITIES = ("RxWBS", "DxWBS", "CT", "US", "MRI", "PET_CT", "bone_scan")
SITES = ("lung", "thyroid_bed", "neck_nodes", "bone", "brain", "liver", "other")
FINDING_STATUSES = ("new", "present", "stable", "increased", "reduced", "resolved", "absent")
#: "Disease at a site": a finding whose status is one of these.
DISEASE_STATUSES = ("new", "present", "stable", "increased", "reduced")
REMNANT_UPTAKES = ("none", "minor", "massive")
CONFIRMATIONS = ("imaging", "cytology", "histology")
VITAL_STATUSES = ("alive", "dead")

# Accepted units and their factor to the canonical unit.
ACTIVITY_UNITS_TO_GBQ = {"GBq": 1.0, "MBq": 0.001, "mCi": 0.037}
#: analyte -> accepted unit -> the canonical unit it equals (factor 1).
LAB_UNITS = {
    "Tg": {"ng/mL": "ng/mL", "ug/L": "ng/mL"},
    "TgAb": {"IU/mL": "IU/mL", "kIU/L": "IU/mL"},
    "TSH": {"mIU/L": "mIU/L", "uIU/mL": "mIU/L"},
}
ANALYTES = tuple(LAB_UNITS)
LAB_UNIT_VOCABULARY = tuple(sorted({u for units in LAB_UNITS.values() for u in units}))
#: Plausible administered activity (GBq), after conversion; outside it the row is quarantined.
ACTIVITY_PLAUSIBLE_GBQ = (0.5, 15.0)

# -- constants and vocabularies of the derivation rules and the marts (sections 2 and 3) ------

#: The revision of the registry rules (specification sections 2-5) this code implements; every
#: refresh records it in ``history.refresh_runs.contract_revision``. Revision 2 (2026-12-05) reads
#: comparator values as bounds (TSH, TgAb, delta_tg, the CR threshold ``cr_tg_max``), judges
#: avidity from the lung metastases on, anchors local disease on the diagnosis when no initial
#: operation is recorded, and censors PFS at the last disease assessment (``pfs_censoring``).
CONTRACT_REVISION = 2

#: The contract revision of a refresh that recorded none (a history row written before
#: ``contract_revision`` was recorded): the column came with revision 2, so every refresh before it
#: implemented revision 1.
REVISION_BEFORE_RECORDING = 1

#: Intervals are calendar days; months = days / DAYS_PER_MONTH, years = days / DAYS_PER_YEAR (unrounded).
DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25

#: T and N stages in the order "most advanced" is judged on (TX / NX play no part).
T_STAGES_RANKED = tuple(t for t in T_STAGES if t != "TX")
N_STAGES_RANKED = tuple(n for n in N_STAGES if n != "NX")
T_STAGE_GROUPS = ("T1+T2", "T3+T4")
#: T stages of the group T1+T2 (the others of T_STAGES_RANKED are T3+T4).
EARLY_T_STAGES = ("T1a", "T1b", "T2")
METASTASIS_TIMINGS = ("synchronous", "metachronous")
#: ``unknown``: a patient with a RAIT but neither an initial operation nor a diagnosis date on record
#: (missing data for every analysis, never a reference level).
LOCAL_DISEASE_STATUSES = ("neither", "local_persistent", "local_recurrence", "unknown")
ATA_RISKS = ("low", "intermediate", "high", "unknown")
#: The two treatment groups of the study (published as ``rait_group``); contrasts compare
#: m-RAIT with o-RAIT unless an analysis says otherwise.
O_RAIT = "o-RAIT"
M_RAIT = "m-RAIT"
RAIT_GROUPS = (O_RAIT, M_RAIT)
#: Per-cycle responses, in the order of the rules (also the order CR < PR < SD < PD of the tests).
RESPONSES = ("CR", "PR", "SD", "PD", "NE")
#: response -> the bases that may justify it.
RESPONSE_BASES: dict[str, tuple[str, ...]] = {
    "PD": ("new_lesion",),
    "CR": ("no_evidence_of_disease",),
    "PR": ("tg_decline", "scan_reduction"),
    "SD": ("no_change",),
    "NE": ("insufficient_data",),
}
PFS_EVENT_TYPES = ("progression", "death", "censored")
#: The eligibility criteria in their order; the first three are met when true, the last three
#: exclude when true.
ELIGIBILITY_CRITERIA = (
    "dtc_surgery",
    "lung_only_micromets",
    "avid_on_every_rxwbs",
    "mets_after_first_rait",
    "massive_remnant",
    "early_progression",
)
MET_WHEN_TRUE = ELIGIBILITY_CRITERIA[:3]

# -- the six tables ------------------------------------------------------------------------------


def _id(name: str, what: str, example: str) -> Column:
    return Column(
        name,
        "text",
        required=True,
        description=f"Identifier of the {what}, unique in its table; a registry pseudonym, never a name or record number.",
        example=example,
    )


def _patient_ref(example: str = "P0001") -> Column:
    return Column(
        "patient_id",
        "text",
        required=True,
        description="The patient the row belongs to; must name an accepted row of patients.",
        example=example,
    )


TABLES: dict[str, Table] = {
    "patients": Table(
        "patients",
        key="patient_id",
        description="One row per patient: who the patient is, independent of any treatment.",
        columns=(
            Column(
                "patient_id",
                "text",
                required=True,
                description="The registry's pseudonym of the patient, unique in the extract; every other "
                "table refers to it.",
                example="P0001",
            ),
            Column(
                "sex",
                "text",
                required=True,
                vocabulary=SEXES,
                description="Sex as recorded by the registry: F (female) or M (male).",
                example="F",
            ),
            Column(
                "birth_date",
                "date",
                required=True,
                description="Date of birth; no event of the patient may be dated before it.",
                example="1968-04-12",
            ),
            Column(
                "center_id",
                "text",
                description="The treating centre, for registries that pool several centres; empty for a "
                "single-centre registry.",
                example="C01",
            ),
        ),
    ),
    "surgeries": Table(
        "surgeries",
        key="surgery_id",
        references={"patient_id": "patients"},
        description="One row per thyroid or neck operation, with the pathology of its specimen.",
        columns=(
            _id("surgery_id", "operation", "S0001-1"),
            _patient_ref(),
            Column(
                "surgery_date",
                "date",
                required=True,
                description="Date of the operation.",
                example="2012-03-05",
            ),
            Column(
                "procedure",
                "text",
                required=True,
                vocabulary=PROCEDURES,
                description="The operation performed: a total, subtotal or completion thyroidectomy, a "
                "lobectomy, a neck dissection, or another procedure.",
                example="total_thyroidectomy",
            ),
            Column(
                "histology",
                "text",
                vocabulary=HISTOLOGIES,
                description="Carcinoma type found in the specimen: papillary (PTC), follicular (FTC) or "
                "another type; empty when the specimen held no carcinoma.",
                example="PTC",
            ),
            Column(
                "max_tumor_size_cm",
                "decimal",
                min_value=0,
                min_inclusive=False,
                max_value=20,
                description="Largest diameter of the primary tumour in this specimen.",
                unit="cm",
                example="2.3",
            ),
            Column(
                "t_stage",
                "text",
                vocabulary=T_STAGES,
                description="Pathological T category of the primary tumour (AJCC 8th edition); TX when "
                "it cannot be assessed.",
                example="T2",
            ),
            Column(
                "n_stage",
                "text",
                vocabulary=N_STAGES,
                description="Pathological N category of the regional nodes (AJCC 8th edition); NX when "
                "they cannot be assessed.",
                example="N1a",
            ),
            Column(
                "ete",
                "text",
                vocabulary=ETE_GRADES,
                description="Extrathyroidal extension of the tumour: none, microscopic only, or gross "
                "(visible to the surgeon).",
                example="microscopic",
            ),
            Column(
                "resection",
                "text",
                vocabulary=RESECTIONS,
                description="Completeness of the resection: R0 no residual tumour, R1 microscopic "
                "residual, R2 macroscopic residual tumour.",
                example="R0",
            ),
            Column(
                "vascular_invasion_foci",
                "integer",
                min_value=0,
                description="Number of foci of vascular invasion counted by the pathologist.",
                example="0",
            ),
            Column(
                "positive_nodes",
                "integer",
                min_value=0,
                description="Number of lymph nodes with metastasis in the specimen.",
                example="3",
            ),
            Column(
                "largest_node_cm",
                "decimal",
                min_value=0,
                min_inclusive=False,
                description="Largest dimension of the largest metastatic lymph node.",
                unit="cm",
                example="1.2",
            ),
            Column(
                "aggressive_variant",
                "boolean",
                description="Whether the carcinoma is of an aggressive subtype (tall cell, hobnail, "
                "columnar cell or similar).",
                example="false",
            ),
        ),
    ),
    "rait_administrations": Table(
        "rait_administrations",
        key="rait_id",
        references={"patient_id": "patients"},
        description="One row per administration of radioactive iodine (I-131).",
        columns=(
            _id("rait_id", "administration", "R0001-1"),
            _patient_ref(),
            Column(
                "admin_date",
                "date",
                required=True,
                description="Date the activity was given; it may not precede the patient's first operation.",
                example="2012-05-14",
            ),
            Column(
                "activity",
                "decimal",
                required=True,
                min_value=0,
                min_inclusive=False,
                description="Administered activity, in the unit of activity_unit; a value that is not "
                "plausible once converted to GBq quarantines the row.",
                example="3.7",
            ),
            Column(
                "activity_unit",
                "text",
                required=True,
                vocabulary=tuple(ACTIVITY_UNITS_TO_GBQ),
                description="Unit of activity; the project converts every activity to GBq "
                "and stores it as activity_gbq.",
                example="GBq",
            ),
            Column(
                "preparation",
                "text",
                vocabulary=PREPARATIONS,
                description="How TSH was raised before the administration: thyroid hormone withdrawal or "
                "recombinant human TSH.",
                example="withdrawal",
            ),
            Column(
                "intent",
                "text",
                required=True,
                vocabulary=INTENTS,
                description="Purpose of the administration: ablation of the thyroid remnant, adjuvant "
                "treatment, or treatment of known metastatic disease.",
                example="metastatic_disease",
            ),
        ),
    ),
    "lab_results": Table(
        "lab_results",
        key="lab_id",
        references={"patient_id": "patients"},
        description="One row per laboratory result: thyroglobulin (Tg), Tg antibodies (TgAb) or TSH.",
        columns=(
            _id("lab_id", "result", "L0001-1"),
            _patient_ref(),
            Column(
                "sample_date",
                "date",
                required=True,
                description="Date the blood sample was taken; results of one patient on the same date "
                "are read together (a TSH stimulates, a TgAb interferes with, that day's Tg).",
                example="2012-05-10",
            ),
            Column(
                "analyte",
                "text",
                required=True,
                vocabulary=ANALYTES,
                description="What was measured: Tg (thyroglobulin, the tumour marker), TgAb (antibodies "
                "that make a Tg unreliable) or TSH.",
                example="Tg",
            ),
            Column(
                "value",
                "decimal",
                required=True,
                min_value=0,
                description="The result, in the unit of the unit column; with a comparator it is the "
                "detection limit or the upper end of the measuring range.",
                example="12.4",
            ),
            Column(
                "comparator",
                "text",
                vocabulary=COMPARATORS,
                description="'<' when the result is below the detection limit given as value, '>' when "
                "it is above the measuring range; empty for an exact result.",
                example="<",
            ),
            Column(
                "unit",
                "text",
                required=True,
                vocabulary=LAB_UNIT_VOCABULARY,
                description="Unit of value; it must be one of the units accepted for the row's analyte "
                "(all equal, factor 1); any other unit is rejected, never converted.",
                example="ng/mL",
            ),
            Column(
                "tgab_cutoff",
                "decimal",
                min_value=0,
                min_inclusive=False,
                description="Positivity cut-off of the assay of a TgAb row; when empty, the study "
                "parameter tgab_positive_cutoff applies.",
                unit="IU/mL",
                example="115",
            ),
        ),
    ),
    "imaging_findings": Table(
        "imaging_findings",
        key="finding_id",
        references={"patient_id": "patients", "rait_id": "rait_administrations"},
        description="One row per imaging study and anatomic site: what the study showed at that site.",
        columns=(
            _id("finding_id", "finding", "F0001-1"),
            _patient_ref(),
            Column(
                "study_date",
                "date",
                required=True,
                description="Date of the imaging study.",
                example="2012-05-21",
            ),
            Column(
                "modality",
                "text",
                required=True,
                vocabulary=MODALITIES,
                description="Kind of study: RxWBS (whole-body scan after a therapeutic administration), "
                "DxWBS (diagnostic whole-body scan), CT, US, MRI, PET_CT or bone_scan.",
                example="RxWBS",
            ),
            Column(
                "rait_id",
                "text",
                description="For a post-therapy scan, the administration it followed; must name an "
                "accepted administration of the same patient.",
                example="R0001-1",
                required_when="modality is RxWBS",
            ),
            Column(
                "site",
                "text",
                required=True,
                vocabulary=SITES,
                description="Anatomic site the row describes.",
                example="lung",
            ),
            Column(
                "status",
                "text",
                required=True,
                vocabulary=FINDING_STATUSES,
                description="Disease at the site compared with the previous comparable study; new, "
                "present, stable, increased and reduced mean disease at the site.",
                example="present",
            ),
            Column(
                "rai_avid",
                "boolean",
                description="Whether the site takes up radioactive iodine on scintigraphy.",
                example="true",
            ),
            Column(
                "max_lesion_mm",
                "decimal",
                min_value=0,
                min_inclusive=False,
                description="Size of the largest lesion at the site; empty when not measurable.",
                unit="mm",
                example="6",
            ),
            Column(
                "remnant_uptake",
                "text",
                vocabulary=REMNANT_UPTAKES,
                description="Uptake in the thyroid remnant, recorded on the thyroid_bed row of a "
                "post-therapy scan: none, minor or massive.",
                example="minor",
            ),
            Column(
                "confirmation",
                "text",
                vocabulary=CONFIRMATIONS,
                description="How the finding was confirmed: by imaging alone, by cytology or by histology.",
                example="imaging",
            ),
        ),
    ),
    "follow_up": Table(
        "follow_up",
        key="patient_id",
        references={"patient_id": "patients"},
        description="One row per patient: the end of what the registry knows about the patient. "
        "Every patient needs exactly one accepted row.",
        columns=(
            Column(
                "patient_id",
                "text",
                required=True,
                description="The patient; unique in this table and must name an accepted row of patients.",
                example="P0001",
            ),
            Column(
                "last_contact_date",
                "date",
                required=True,
                description="Date the patient was last seen or heard of; no event may be dated after it.",
                example="2021-09-30",
            ),
            Column(
                "vital_status",
                "text",
                required=True,
                vocabulary=VITAL_STATUSES,
                description="Whether the patient was alive or dead when the extract was made.",
                example="dead",
            ),
            Column(
                "death_date",
                "date",
                description="Date of death; given exactly when vital_status is dead. It may be later "
                "than last_contact_date (a death registry linkage), never earlier.",
                example="2022-01-15",
                required_when="vital_status is dead",
            ),
        ),
    ),
}

TABLE_ORDER = ("patients", "follow_up", "surgeries", "rait_administrations", "lab_results", "imaging_findings")
