-- RUNBOOK: exact row count of every table in the connection's schema (compare with manifest.json in the run dir).
-- One query, no dynamic SQL outside the server: query_to_xml runs the count per table.
SELECT t.table_name AS "table",
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', t.table_schema, t.table_name), false, true, '')))[1]::text::bigint AS "rows"
FROM information_schema.tables t
WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
ORDER BY t.table_name;
