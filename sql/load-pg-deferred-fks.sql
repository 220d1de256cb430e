-- Foreign keys of the app's tables in schema $1, with the definition that re-adds each and the column lists
-- needed to name one orphan row when VALIDATE CONSTRAINT fails.
SELECT t.relname AS table_name,
       con.conname AS constraint_name,
       pg_get_constraintdef(con.oid) AS constraint_def,
       rt.relname AS ref_table,
       rn.nspname AS ref_schema,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class rt ON rt.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rt.relnamespace
WHERE n.nspname = $1
  AND con.contype = 'f'
  AND t.relname = ANY ($2::text[])
ORDER BY t.relname, con.conname;
