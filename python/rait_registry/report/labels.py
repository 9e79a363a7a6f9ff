"""Display names of variables, levels and tests (the paper's wording, British spelling)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

VARIABLE_LABELS: dict[str, str] = {
    "age_at_diagnosis_years": "Age at diagnosis (years)",
    "age_at_diagnosis": "Age at diagnosis",
    "sex": "Sex",
    "histology": "Pathological type",
    "max_tumor_size_cm": "Maximum primary tumour size (cm)",
    "t_stage_group": "AJCC T stage",
    "n_stage_max": "AJCC N stage",
    "ata_risk": "Initial risk stratification (ATA 2015)",
    "local_disease_status": "Local recurrence or persistent disease before RAIT",
    "local_persistent_disease": "Local persistent disease before RAIT",
    "metastasis_timing": "Distant metastasis timing",
    "rait_group": "Multiple RAITs (m-RAIT) or not",
    "n_rait_cycles": "Number of RAIT cycles",
    "cumulative_gbq": "Cumulative RAI activity (GBq)",
    "median_activity_gbq": "Median single RAIT cycle activity (GBq)",
    "interval_months": "Interval between RAIT cycles (months)",
    "first_response": "Response to first RAIT",
    "last_response": "Response to last RAIT (o-RAIT: its only RAIT)",
    "m_rait_first_vs_last": "m-RAIT: last vs first RAIT response",
    "m_rait_marginal_homogeneity": "m-RAIT: first vs last response, marginal homogeneity",
    "first_response_at_horizon": "Response to first RAIT at the fixed horizon",
    "last_response_at_horizon": "Response to last RAIT at the fixed horizon (o-RAIT: its only RAIT)",
    "m_rait_first_vs_last_at_horizon": "m-RAIT: last vs first RAIT response at the fixed horizon",
    "m_rait_marginal_homogeneity_at_horizon": "m-RAIT: first vs last response at the fixed horizon, marginal homogeneity",
    "follow_up_months": "Follow-up (months)",
    "pfs_months": "Progression-free survival (months)",
}

#: Short labels for the forest and Love plots.
SHORT_LABELS: dict[str, str] = {
    "age_at_diagnosis": "Age at diagnosis",
    "age_at_diagnosis_years": "Age at diagnosis (years)",
    "sex": "Sex",
    "histology": "Pathological type",
    "max_tumor_size_cm": "Max. tumour size",
    "t_stage_group": "AJCC T stage",
    "n_stage_max": "AJCC N stage",
    "local_disease_status": "Local disease",
    "local_persistent_disease": "Local persistent disease",
    "metastasis_timing": "Metastasis timing",
    "rait_group": "RAIT group",
    "n_rait_cycles": "RAIT cycles",
    "cumulative_gbq": "Cumulative activity",
    "follow_up_months": "Follow-up (months)",
}

LEVEL_LABELS: dict[str, str] = {
    "F": "Female",
    "M": "Male",
    "neither": "Neither",
    "local_recurrence": "Local recurrence",
    "local_persistent": "Local persistent disease",
    "synchronous": "Synchronous",
    "metachronous": "Metachronous",
    "low": "Low risk",
    "intermediate": "Intermediate risk",
    "high": "High risk",
    "unknown": "Unknown",
    "missing": "Missing",
    "improved": "Improved",
    "unchanged": "Unchanged",
    "worsened": "Worsened",
    "not_evaluable": "Not evaluable",
    "T1+T2": "T1 + T2",
    "T3+T4": "T3 + T4",
    "CR": "CR",
    "PR": "PR",
    "SD": "SD",
    "PD": "PD",
    "NE": "NE (not evaluable)",
}

TEST_LABELS: dict[str, str] = {
    "mann_whitney": "Mann-Whitney U",
    "chi_square": "\u03c7\u00b2",
    "chi_square_yates": "\u03c7\u00b2 (Yates)",
    "g_test": "G-test (likelihood ratio)",
    "chi2": "\u03c7\u00b2",
    "pearson_chi_square": "\u03c7\u00b2",
    "fisher": "Fisher exact",
    "fisher_exact": "Fisher exact",
    "wilcoxon_signed_rank": "Wilcoxon signed-rank",
    "stuart_maxwell": "Stuart-Maxwell",
}

#: Exclusion reasons of the attrition diagram; ``{var}`` fields are filled from the dbt vars in force.
CRITERION_TEMPLATES: dict[str, str] = {
    "dtc_surgery": "no total, subtotal or completion thyroidectomy dated {surgery_date_min} to "
    "{surgery_date_max}, or no PTC/FTC histology",
    "lung_only_micromets": "lung micrometastases not the only distant disease at baseline (other distant site, "
    "or a lung lesion \u2265 {micromet_max_mm} mm), or no lung disease documented",
    "avid_on_every_rxwbs": "lung disease not RAI-avid on every post-therapy whole-body scan",
    "mets_after_first_rait": "lung metastases first found more than {rxwbs_window_days} days after the first RAIT",
    "massive_remnant": "massive remnant uptake on the first post-therapy scan",
    "early_progression": "progression within {early_pd_exclusion_days} days of a RAIT cycle",
}


def variable_label(variable: Any, fallback: str | None = None) -> str:
    """Display name of a variable (its ``label`` from results.json when given, else ours)."""
    if variable is None:
        return fallback or ""
    return VARIABLE_LABELS.get(str(variable), fallback or str(variable).replace("_", " ").capitalize())


def level_label(level: Any) -> str:
    """Display name of a level (``local_persistent`` -> ``Local persistent disease``)."""
    if level is None:
        return ""
    text = str(level)
    if text in LEVEL_LABELS:
        return LEVEL_LABELS[text]
    text = text.replace("_", " ").replace(">=", "\u2265 ").replace("<=", "\u2264 ")
    return re.sub(r"<(?=\S)", "< ", re.sub(r">(?=\S)", "> ", text)).replace("  ", " ")


def test_label(test: Any) -> str:
    if not test:
        return ""
    return TEST_LABELS.get(str(test), str(test).replace("_", " "))


def criterion_labels(dbt_vars: Mapping[str, Any]) -> dict[str, str]:
    """Exclusion reasons with the study parameters in force substituted."""
    out = {}
    for name, template in CRITERION_TEMPLATES.items():
        try:
            out[name] = template.format(**dbt_vars)
        except (KeyError, IndexError, ValueError):
            out[name] = template.replace("{", "").replace("}", "")
    return out


def plot_labels() -> dict[str, str]:
    """Labels for forest/Love plots: variables and ``variable=level`` keys."""
    labels = dict(SHORT_LABELS)
    for variable in ("sex", "local_disease_status", "metastasis_timing", "t_stage_group", "ata_risk"):
        for level, text in LEVEL_LABELS.items():
            labels[f"{variable}={level}"] = text
    return labels
