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
        the build, or of a load still in progress or failed halfway, are tested on the next run;
      - the watermark holds for one definition: the model's SQL and the tests' arguments
        (q2c_scope_definition). A deploy that changes either (a new column to check, a value
        taken off a list, a new foreign key) makes the next build read every row again;
      - a build that reads no data (`dbt build --empty`, `--sample`) moves nothing.

    What a scoped test cannot see until the nightly full build: an old row broken by a change
    elsewhere, such as a parent record hard-deleted from under it. Salesforce and Certinia soft-
    delete (IsDeleted), so their staging rows stay. docs/architecture.md describes it.
#}

{% macro q2c_test_watermark_table() -%}
    q2c_meta.test_watermark
{%- endmacro %}

{% macro q2c_loads_at_start_table() -%}
    q2c_meta.loads_at_start
{%- endmacro %}

{#
    The `where` that keeps the rows a scoped test has not passed on yet (nothing when the test
    reads every row). `kind` is the generic test's name: the watermark is kept per model and kind,
    for the current definition of both.
#}
{% macro q2c_new_loads_filter(model, kind, new_loads_only) -%}
    {%- if new_loads_only and not flags.FULL_REFRESH -%}
    where dlt_load_id > coalesce((
        select max(tested_through) from {{ q2c_test_watermark_table() }}
        where model_name = '{{ model.identifier }}' and test_kind = '{{ kind }}'
          and definition_hash = '{{ q2c_scope_definition(q2c_model_id(model.identifier), kind) if execute else '' }}'
    ), '')
    {%- endif -%}
{%- endmacro %}

{# The unique id of the model whose relation is named `identifier`. #}
{% macro q2c_model_id(identifier) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.alias == identifier -%}
        {{ return(node.unique_id) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#
    What a watermark holds for: a hash of the model's SQL (dbt's checksum of its file) and of the
    arguments of its scoped tests of that kind. The generic tests' own code is not in it: a
    change there is checked on every row by the next full refresh.
#}
{% macro q2c_scope_definition(model_id, kind) -%}
    {%- if model_id is none -%}{{ return('') }}{%- endif -%}
    {%- set parts = [] -%}
    {%- for test_id in q2c_scoped_tests().get((model_id, kind), []) -%}
        {%- do parts.append(test_id ~ '=' ~ tojson(graph.nodes[test_id].test_metadata.kwargs, sort_keys=True)) -%}
    {%- endfor -%}
    {{ return(local_md5(graph.nodes[model_id].checksum.checksum ~ '|' ~ (parts | sort | join('|')))) }}
{%- endmacro %}

{#
    The scoped tests of the graph, grouped: {(model unique id, test kind): [test unique ids]}.
    A test is scoped when its arguments say `new_loads_only: true`.
#}
{% macro q2c_scoped_tests() -%}
    {%- set groups = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.test_metadata -%}
        {%- if node.test_metadata.kwargs.get('new_loads_only') -%}  {#- as the tests read it -#}
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
    test reads, as the build starts. A dataset not loaded yet is left out (a run of the seeds
    alone on an empty warehouse, say), and its tests' watermarks stay where they are.

    Rendering only reads; the hook's SQL writes. `dbt docs generate` and `dbt compile` render
    every hook before running any, so a hook that wrote while rendering would run out of order.
    Looking a relation up may open a transaction on dbt's connection, and hook SQL runs inside
    whatever is open and is not committed: it is closed here, before the SQL runs.
#}
{% macro q2c_record_loads_at_start() -%}
    {%- set selects = [] -%}
    {%- if execute -%}
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
        {%- do run_query('select 1') -%}  {#- a transaction is open now, whether the lookups opened one or not -#}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {%- if not selects -%}
        {%- do selects.append("select cast(null as " ~ dbt.type_string() ~ ") as dataset, cast(null as "
                              ~ dbt.type_string() ~ ") as loads_through where 1 = 0") -%}
    {%- endif -%}
    create table {{ q2c_loads_at_start_table() }} as
    {{ selects | join('\nunion all\n') }}
{%- endmacro %}

{#
    The (model name, kind) pairs whose scoped tests all passed in this build: their watermarks
    move. Tests that failed, warned, errored, were skipped or were not selected hold theirs.
#}
{% macro q2c_passed_scopes(results) -%}
    {%- if invocation_args_dict.get('empty') or invocation_args_dict.get('sample') -%}
        {{ return([]) }}  {#- the tests read no rows, or some: they passed on nothing -#}
    {%- endif -%}
    {%- set passed = [] -%}
    {%- for result in (results or []) if result.status == 'pass' -%}
        {%- do passed.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- set scopes = [] -%}
    {%- for key, tests in q2c_scoped_tests().items() -%}
        {%- set dataset = q2c_model_dataset(key[0]) -%}
        {%- if dataset is not none and (tests | reject('in', passed) | list | length) == 0 -%}
            {%- do scopes.append((graph.nodes[key[0]].alias, key[1], dataset[1],
                                  q2c_scope_definition(key[0], key[1]))) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(scopes) }}
{%- endmacro %}

{#
    on-run-end, two statements (q2c_advance_test_watermarks 'delete' then 'insert'): move the
    watermark of each passed (model, kind) to the loads recorded at the build's start.
#}
{% macro q2c_advance_test_watermarks(results, step) -%}
    {%- set scopes = q2c_passed_scopes(results) if execute and results is defined else [] -%}
    {%- if not scopes -%}
    select 1
    {%- elif step == 'delete' -%}
    delete from {{ q2c_test_watermark_table() }}
    where {% for model_name, kind, dataset, definition in scopes -%}
        (model_name = '{{ model_name }}' and test_kind = '{{ kind }}' and exists (
            select 1 from {{ q2c_loads_at_start_table() }} as loads
            where loads.dataset = '{{ dataset }}' and loads.loads_through is not null))
        {{- " or" if not loop.last }}
    {% endfor %}
    {%- else -%}
    insert into {{ q2c_test_watermark_table() }} (model_name, test_kind, definition_hash, tested_through, updated_at)
    {% for model_name, kind, dataset, definition in scopes -%}
    select cast('{{ model_name }}' as {{ dbt.type_string() }}), cast('{{ kind }}' as {{ dbt.type_string() }}),
           cast('{{ definition }}' as {{ dbt.type_string() }}), loads.loads_through, current_timestamp
    from {{ q2c_loads_at_start_table() }} as loads
    where loads.dataset = '{{ dataset }}' and loads.loads_through is not null
    {{ "union all" if not loop.last }}
    {% endfor %}
    {%- endif -%}
{%- endmacro %}
