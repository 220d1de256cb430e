-- Integrity gate: what schema $1 holds, as comparable rows (kind, table_name, name, detail). Run once for the
-- target schema and once for a reference schema built from the Prisma schema's DDL in a rolled-back
-- transaction; rows present on one side only are missing/extra objects, equal (kind, table, name) with a
-- different detail is a changed object. Names of constraints and indexes are left out on purpose: the
-- structure is what protects the data (the prisma gate's drift check sees renames).
-- Types from pg_catalog print with format_type(); enum types print by name only, since the reference schema's
-- enums live in another namespace and would otherwise print schema-qualified.
WITH ns AS (
  SELECT oid FROM pg_namespace WHERE nspname = $1
), rels AS (
  SELECT c.oid, c.relname
  FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM ns)
    AND c.relkind IN ('r', 'p')
    AND c.relname <> '_prisma_migrations'
)
SELECT 'table' AS kind, r.relname AS table_name, '' AS name, '' AS detail
FROM rels r
UNION ALL
SELECT 'column', r.relname, a.attname,
       CASE WHEN tn.nspname = 'pg_catalog' THEN format_type(a.atttypid, a.atttypmod) ELSE t.typname::text END
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
       || CASE
            WHEN a.attidentity <> '' THEN ' IDENTITY'
            WHEN d.adbin IS NULL THEN ''
            WHEN pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%' THEN ' DEFAULT nextval'
            ELSE ' DEFAULT'
          END
FROM rels r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
UNION ALL
SELECT CASE WHEN i.indisprimary THEN 'primary key' WHEN i.indisunique THEN 'unique' ELSE 'index' END,
       r.relname,
       '(' || (
         SELECT string_agg(pg_get_indexdef(i.indexrelid, k.n, true), ', ' ORDER BY k.n)
         FROM generate_series(1, i.indnkeyatts) AS k(n)
       ) || ')',
       CASE WHEN i.indpred IS NULL THEN '' ELSE 'partial' END
FROM rels r
JOIN pg_index i ON i.indrelid = r.oid
UNION ALL
SELECT 'sequence', r.relname, a.attname, ''
FROM rels r
JOIN pg_depend dep ON dep.refobjid = r.oid AND dep.refclassid = 'pg_class'::regclass
                  AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = dep.refobjsubid
