-- Sequences owned by a column of a table in schema $1 (SERIAL / BIGSERIAL / IDENTITY: Prisma's autoincrement()),
-- found through pg_depend so it works whatever the sequence is named (what pg_get_serial_sequence does per column).
SELECT t.relname AS table_name,
       a.attname AS column_name,
       sn.nspname AS sequence_schema,
       s.relname AS sequence_name,
       -- The proof needs the column to draw from this sequence: a SERIAL default nextval(...) or an identity.
       pg_get_expr(ad.adbin, ad.adrelid) AS column_default,
       a.attidentity <> '' AS is_identity
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
LEFT JOIN pg_attrdef ad ON ad.adrelid = t.oid AND ad.adnum = a.attnum
WHERE d.classid = 'pg_class'::regclass
  AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND n.nspname = $1
ORDER BY t.relname, a.attname;
