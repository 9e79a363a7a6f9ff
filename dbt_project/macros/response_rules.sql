{#-
  The per-cycle response rules of docs/specification.md section 2 ("Per-cycle response"), shared by
  int_rait_cycles__response (the evidence of the whole evaluation window) and
  int_rait_cycles__response_at_horizon (the same evidence limited to admin + response_horizon_months),
  so both apply one decision. Arguments are SQL expressions (column names).
-#}

{#- delta_tg: (tg_pre - tg_post) / tg_pre when both exist, tg_pre > 0 and exact, tg_post not `>`. -#}
{% macro tg_decline(tg_pre, tg_pre_comparator, tg_post, tg_post_comparator) -%}
    case
        when {{ tg_pre }} > 0
            and {{ tg_post }} is not null
            and {{ tg_pre_comparator }} is null
            and coalesce({{ tg_post_comparator }}, '') <> '>'
            then ({{ tg_pre }} - {{ tg_post }}) / {{ tg_pre }}
    end
{%- endmacro %}

{#- tg_post below var cr_tg_max: exact < cr_tg_max, or `<X` with X <= cr_tg_max; never NULL. -#}
{% macro is_tg_below_cr_max(tg_post, tg_post_comparator) -%}
    coalesce(
        ({{ tg_post_comparator }} is null and {{ tg_post }} < {{ var('cr_tg_max') }})
        or ({{ tg_post_comparator }} = '<' and {{ tg_post }} <= {{ var('cr_tg_max') }}),
        false
    )
{%- endmacro %}

{#-
  The first rule that holds: PD new_lesion, CR no_evidence_of_disease, PR tg_decline, PR
  scan_reduction, SD no_change, NE insufficient_data. output is 'response' or 'response_basis'.
-#}
{% macro response_rule(output, n_new_lesion_events, is_tg_post_below_cr_max, delta_tg, scan_change, tg_post) -%}
    {%- set labels = {
        'response': ['PD', 'CR', 'PR', 'PR', 'SD', 'NE'],
        'response_basis': ['new_lesion', 'no_evidence_of_disease', 'tg_decline', 'scan_reduction', 'no_change',
                           'insufficient_data'],
    }[output] -%}
    case
        when {{ n_new_lesion_events }} > 0 then '{{ labels[0] }}'
        when {{ is_tg_post_below_cr_max }} and {{ scan_change }} in ('resolved', 'absent') then '{{ labels[1] }}'
        when {{ delta_tg }} >= {{ var('tg_response_threshold') }} then '{{ labels[2] }}'
        when {{ scan_change }} in ('reduced', 'resolved') then '{{ labels[3] }}'
        when {{ tg_post }} is not null or {{ scan_change }} is not null then '{{ labels[4] }}'
        else '{{ labels[5] }}'
    end
{%- endmacro %}
