-- Benchmark only: exact total row count over every user table (how many rows pgloader really landed).
SELECT coalesce(sum((xpath('/row/n/text()',
         query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, relname), false, true, '')))[1]::text::bigint), 0)::text AS n
FROM pg_stat_user_tables;
