{#
    Tests of the big staging views scoped to the rows of new loads.

    A scheduled build used to test every row of the PSA's biggest objects (timecard splits,
    timecard headers, billing event items, expenses) on every run, although only the rows of
    the day's loads can have changed: at 5.5 M splits those scans were the largest part of an
    incremental build. A generic test given `new_loads_only: true` now reads only the rows whose
    dlt load (the staging view's `dlt_load_id`) is newer than the loads it last passed on:

      - the first build of a warehouse, and every `dbt build --full-refresh` (the nightly
        reconciliation), test every row;
      - a test's watermark moves only when every scoped test of its kind on its model passed
        (q2c_advance_test_watermarks, on-run-end): a failure or a warning is found again on the
        next build, and the one after, until the data is fixed;
      - the watermark is the newest load that was complete when the build started
        (q2c_record_loads_at_start, on-run-start), so the rows of a load that completes during
        the build, or of a load still in progress or failed halfway, are tested on the next run.

    What a scoped test cannot see until the nightly full build: an old row broken by a change
    elsewhere, such as a parent record hard-deleted from under it. Salesforce and Certinia soft-
    delete (IsDeleted), so their staging rows stay; docs/data_quality.md has the list.
#}

{% macro q2c_test_watermark_table() -%}
    q2c_meta.test_watermark
{%- endmacro %}

{% macro q2c_loads_at_start_table() -%}
    q2c_meta.loads_at_start
{%- endmacro %}

{#
    The `where` that keeps the rows a scoped test has not passed on yet (nothing when the test
    reads every row). `kind` is the generic test's name: the watermark is kept per model and kind.
#}
{% macro q2c_new_loads_filter(model, kind, new_loads_only) -%}
    {%- if new_loads_only and not flags.FULL_REFRESH -%}
    where dlt_load_id > coalesce((
        select max(tested_through) from {{ q2c_test_watermark_table() }}
        where model_name = '{{ model.identifier }}' and test_kind = '{{ kind }}'
    ), '')
    {%- endif -%}
{%- endmacro %}

{#
    The scoped tests of the graph, grouped: {(model unique id, test kind): [test unique ids]}.
    A test is scoped when its arguments say `new_loads_only: true`.
#}
{% macro q2c_scoped_tests() -%}
    {%- set groups = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.test_metadata -%}
        {%- if node.test_metadata.kwargs.get('new_loads_only') in (true, 'true', 'True') -%}
            {%- set key = (node.attached_node, node.test_metadata.name) -%}
            {%- do groups.setdefault(key, []).append(node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(groups) }}
{%- endmacro %}

{# The dlt dataset (database, schema) a staging model reads: the first source it depends on. #}
{% macro q2c_model_dataset(model_id) -%}
    {%- for dependency in graph.nodes[model_id].depends_on.nodes if dependency.startswith('source.') -%}
        {%- set source_node = graph.sources[dependency] -%}
        {{ return((source_node.database, source_node.schema)) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#
    on-run-start: the newest complete load (dlt's _dlt_loads, status 0) of each dataset a scoped
    test reads, as the build starts. A dataset without a load record yet is left out (its tests'
    watermarks then stay where they are).
#}
{% macro q2c_record_loads_at_start() -%}
    {%- if execute -%}
        {%- set selects = [] -%}
        {%- set datasets = [] -%}
        {%- for key in q2c_scoped_tests() -%}
            {%- set dataset = q2c_model_dataset(key[0]) -%}
            {%- if dataset is not none and dataset not in datasets -%}
                {%- do datasets.append(dataset) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for database, schema in datasets -%}
            {%- set loads = adapter.get_relation(database=database, schema=schema, identifier='_dlt_loads') -%}
            {%- if loads is not none -%}
                {%- do selects.append("select cast('" ~ schema ~ "' as " ~ dbt.type_string() ~ ") as dataset, "
                                      ~ "cast(max(load_id) as " ~ dbt.type_string() ~ ") as loads_through from "
                                      ~ loads ~ " where status = 0") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not selects -%}
            {%- do selects.append("select cast(null as " ~ dbt.type_string() ~ ") as dataset, cast(null as "
                                  ~ dbt.type_string() ~ ") as loads_through where 1 = 0") -%}
        {%- endif -%}
        {#- Looking a relation up can open a transaction: run and commit here, not as the hook's SQL. -#}
        {%- call statement('record_loads_at_start') -%}
            create table {{ q2c_loads_at_start_table() }} as
            {{ selects | join('\nunion all\n') }}
        {%- endcall -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{#
    on-run-end: move the watermark of each (model, kind) whose scoped tests all passed in this
    build to the loads recorded at its start. Tests that failed, warned, errored, were skipped or
    were not selected leave it where it was.
#}
{% macro q2c_advance_test_watermarks(results) -%}
    {%- if execute -%}
        {%- set passed = [] -%}
        {%- set moved = [] -%}
        {%- for result in results if result.status == 'pass' -%}
            {%- do passed.append(result.node.unique_id) -%}
        {%- endfor -%}
        {%- for key, tests in q2c_scoped_tests().items() -%}
            {%- set dataset = q2c_model_dataset(key[0]) -%}
            {%- if dataset is not none and (tests | reject('in', passed) | list | length) == 0 -%}
                {%- set model_name = graph.nodes[key[0]].alias -%}
                {%- call statement('advance_' ~ model_name ~ '_' ~ key[1]) -%}
                    delete from {{ q2c_test_watermark_table() }}
                    where model_name = '{{ model_name }}' and test_kind = '{{ key[1] }}'
                    and exists (select 1 from {{ q2c_loads_at_start_table() }} where dataset = '{{ dataset[1] }}'
                                and loads_through is not null)
                {%- endcall -%}
                {%- call statement('insert_' ~ model_name ~ '_' ~ key[1]) -%}
                    insert into {{ q2c_test_watermark_table() }} (model_name, test_kind, tested_through, updated_at)
                    select '{{ model_name }}', '{{ key[1] }}', loads_through, current_timestamp
                    from {{ q2c_loads_at_start_table() }}
                    where dataset = '{{ dataset[1] }}' and loads_through is not null
                {%- endcall -%}
                {%- do moved.append(key) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if moved -%}
            {%- do adapter.commit() -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
