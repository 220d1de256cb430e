-- Counts gate: exact row count of one table (the manifest's count is exact too, so no estimate will do).
SELECT count(*)::text AS row_count
FROM {{table}}
