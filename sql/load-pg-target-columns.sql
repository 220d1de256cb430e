-- Column types of every table in schema $1 as PostgreSQL will parse COPY input for them: the conversion of
-- each SQLite value is chosen from these (the target decides), then cross-checked with the Prisma schema's kind.
-- base_type is the element type's name for arrays and the base of a domain; type_kind 'e' marks enum types.
SELECT c.relname AS table_name,
       a.attname AS column_name,
       a.attnum AS position,
       format_type(a.atttypid, a.atttypmod) AS data_type,
       bt.typname AS base_type,
       bt.typtype AS type_kind,
       (t.typcategory = 'A') AS is_array,
       a.attnotnull AS not_null,
       a.attgenerated <> '' AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
-- Arrays → their element type; domains → their base type (one level is what Prisma can produce).
JOIN pg_type bt ON bt.oid = CASE
    WHEN t.typcategory = 'A' THEN t.typelem
    WHEN t.typtype = 'd' THEN t.typbasetype
    ELSE t.oid END
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p')
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY c.relname, a.attnum;
