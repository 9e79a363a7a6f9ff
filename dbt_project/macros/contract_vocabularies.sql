{#-
  Contract section 1 vocabularies, in contract spelling: the SQL-side twin of
  python/rait_registry/contract.py (tests/test_contract_agreement.py keeps them equal).
-#}
{% macro contract_vocabulary(name) -%}
    {%- set vocabularies = {
        'sex': ['F', 'M'],
        'procedure': ['total_thyroidectomy', 'subtotal_thyroidectomy', 'completion_thyroidectomy', 'lobectomy', 'neck_dissection', 'other'],
        'histology': ['PTC', 'FTC', 'other'],
        't_stage': ['T1a', 'T1b', 'T2', 'T3a', 'T3b', 'T4a', 'T4b', 'TX'],
        'n_stage': ['N0', 'N1a', 'N1b', 'NX'],
        'ete': ['none', 'microscopic', 'gross'],
        'resection': ['R0', 'R1', 'R2'],
        'activity_unit': ['GBq', 'MBq', 'mCi'],
        'preparation': ['withdrawal', 'rhTSH'],
        'intent': ['remnant_ablation', 'adjuvant', 'metastatic_disease'],
        'analyte': ['Tg', 'TgAb', 'TSH'],
        'comparator': ['<', '>'],
        'lab_unit': ['IU/mL', 'kIU/L', 'mIU/L', 'ng/mL', 'uIU/mL', 'ug/L'],
        'modality': ['RxWBS', 'DxWBS', 'CT', 'US', 'MRI', 'PET_CT', 'bone_scan'],
        'site': ['lung', 'thyroid_bed', 'neck_nodes', 'bone', 'brain', 'liver', 'other'],
        'status': ['new', 'present', 'stable', 'increased', 'reduced', 'resolved', 'absent'],
        'remnant_uptake': ['none', 'minor', 'massive'],
        'confirmation': ['imaging', 'cytology', 'histology'],
        'vital_status': ['alive', 'dead'],
    } -%}
    {{ return(vocabularies[name]) }}
{%- endmacro %}
