{#-
  Value sets that contract section 2 defines once and several rules reuse (contract spelling).
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
