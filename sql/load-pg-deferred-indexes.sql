-- Secondary indexes of the app's tables in schema $1 (every index except the primary key's), with the exact
-- statement that recreates each. Unique indexes are included: rebuilding them after COPY also proves uniqueness.
-- constraint_name is set when the index backs a UNIQUE/EXCLUDE constraint (then it is dropped and re-added as
-- a constraint); Prisma creates plain unique indexes, but a hand-made constraint must survive too.
SELECT t.relname AS table_name,
       i.relname AS index_name,
       pg_get_indexdef(x.indexrelid) AS index_def,
       con.conname AS constraint_name,
       CASE WHEN con.oid IS NULL THEN NULL ELSE pg_get_constraintdef(con.oid) END AS constraint_def,
       x.indisunique AS is_unique
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('u', 'x') AND con.conrelid = t.oid
WHERE n.nspname = $1
  AND t.relkind IN ('r', 'p')
  AND NOT x.indisprimary
  AND t.relname <> '_prisma_migrations'
  AND t.relname = ANY ($2::text[])
ORDER BY t.relname, i.relname;
