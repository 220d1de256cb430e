-- Integrity gate: the name of this session's temporary schema (pg_temp_N), once the reference DDL created it.
SELECT nspname AS name FROM pg_namespace WHERE oid = pg_my_temp_schema();
