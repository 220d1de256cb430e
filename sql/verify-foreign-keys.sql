-- Integrity gate: every foreign key of schema $1 with its columns in key order, the referenced table and
-- columns, the referential actions and whether PostgreSQL has validated it against the existing rows.
SELECT con.conname AS name,
       cl.relname AS table_name,
       ref.relname AS ref_table,
       refns.nspname AS ref_schema,
       array(
         SELECT a.attname::text
         FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
         ORDER BY k.ord
       ) AS columns,
       array(
         SELECT a.attname::text
         FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
         ORDER BY k.ord
       ) AS ref_columns,
       con.confdeltype::text AS on_delete,
       con.confupdtype::text AS on_update,
       con.convalidated AS validated
FROM pg_constraint con
JOIN pg_class cl ON cl.oid = con.conrelid
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_namespace refns ON refns.oid = ref.relnamespace
WHERE con.contype = 'f'
  AND con.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
ORDER BY cl.relname, con.conname
