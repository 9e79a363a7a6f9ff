{#-
  Value sets that docs/specification.md section 2 defines once and several rules reuse (contract spelling).
-#}

{#- "Disease at a site" means status in (new, present, stable, increased, reduced) (section 1). -#}
{% macro disease_statuses() -%}
    {{ return(['new', 'present', 'stable', 'increased', 'reduced']) }}
{%- endmacro %}

{#- Surgery histologies that establish a carcinoma diagnosis (diagnosis_date, max_tumor_size_cm). -#}
{% macro carcinoma_histologies() -%}
    {{ return(['PTC', 'FTC', 'other']) }}
{%- endmacro %}

{#- Procedures that count as the initial operation (initial_surgery_date). -#}
{% macro initial_surgery_procedures() -%}
    {{ return(['total_thyroidectomy', 'subtotal_thyroidectomy', 'lobectomy']) }}
{%- endmacro %}

{#- Procedures that satisfy the dtc_surgery criterion (eligibility 1). -#}
{% macro thyroidectomy_procedures() -%}
    {{ return(['total_thyroidectomy', 'subtotal_thyroidectomy', 'completion_thyroidectomy']) }}
{%- endmacro %}

{#-
  The eligibility criteria of docs/specification.md section 2, in order. `met_when` is the flag value that
  lets a patient through: true for criteria 1-3 (criterion met), false for 4-6 (exclusion does
  not apply). Used by int_patients__eligibility, int_patients__eligibility_at_baseline (flag columns
  named `<name>_at_baseline`, the criterion judged at baseline) and marts.cohort_attrition.
-#}
{% macro eligibility_criteria() -%}
    {{ return([
        {'step': 1, 'name': 'dtc_surgery', 'met_when': true},
        {'step': 2, 'name': 'lung_only_micromets', 'met_when': true},
        {'step': 3, 'name': 'avid_on_every_rxwbs', 'met_when': true},
        {'step': 4, 'name': 'mets_after_first_rait', 'met_when': false},
        {'step': 5, 'name': 'massive_remnant', 'met_when': false},
        {'step': 6, 'name': 'early_progression', 'met_when': false},
    ]) }}
{%- endmacro %}

{#- SQL condition under which a patient fails one eligibility criterion (flag column = name ~ suffix). -#}
{% macro fails_criterion(criterion, relation_alias=none, suffix='') -%}
    {%- set column = (relation_alias ~ '.' if relation_alias else '') ~ criterion['name'] ~ suffix -%}
    {%- if criterion['met_when'] -%} not {{ column }} {%- else -%} {{ column }} {%- endif -%}
{%- endmacro %}

{#- SQL condition under which a patient meets one eligibility criterion (the negation of fails_criterion). -#}
{% macro meets_criterion(criterion, suffix='') -%}
    {%- set column = criterion['name'] ~ suffix -%}
    {%- if criterion['met_when'] -%} {{ column }} {%- else -%} not {{ column }} {%- endif -%}
{%- endmacro %}

{#-
  The verdict columns over the six flags (`<name><suffix>`) of one row: `<prefix>exclusion_step` (position of the
  first failing criterion, NULL when eligible), `<prefix>exclusion_reason` (its name) and `is_eligible<suffix>`.
  int_patients__eligibility uses the contract's flags; int_patients__eligibility_at_baseline the flags judged at
  baseline (suffix '_at_baseline', prefix 'baseline_').
-#}
{% macro eligibility_verdict_columns(suffix='', prefix='') -%}
    {%- set steps, reasons, meets = [], [], [] -%}
    {%- for criterion in eligibility_criteria() -%}
        {%- set fails = fails_criterion(criterion, suffix=suffix) -%}
        {%- do steps.append('when ' ~ fails ~ ' then ' ~ criterion['step']) -%}
        {%- do reasons.append('when ' ~ fails ~ ' then ' ~ dbt.string_literal(criterion['name'])) -%}
        {%- do meets.append(meets_criterion(criterion, suffix=suffix)) -%}
    {%- endfor -%}
    case {{ steps | join(' ') }} end as {{ prefix }}exclusion_step,
    case {{ reasons | join(' ') }} end as {{ prefix }}exclusion_reason,
    ({{ meets | join(' and ') }}) as is_eligible{{ suffix }}
{%- endmacro %}
