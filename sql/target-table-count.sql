-- Exact row count of one table of the target schema (the marker's recorded counts are compared with it).
SELECT count(*)::bigint AS n FROM {{table}}
