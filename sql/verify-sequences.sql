-- Integrity gate: every sequence owned by a column of schema $1 (serial / autoincrement, identity), with its
-- increment, so each can be compared with max() of its column.
SELECT s.relname AS sequence_name,
       sn.nspname AS sequence_schema,
       r.relname AS table_name,
       a.attname AS column_name,
       seq.seqincrement::text AS increment
FROM pg_class r
JOIN pg_depend dep ON dep.refobjid = r.oid AND dep.refclassid = 'pg_class'::regclass
                  AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_sequence seq ON seq.seqrelid = s.oid
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = dep.refobjsubid
WHERE r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
  AND r.relkind IN ('r', 'p')
ORDER BY r.relname, a.attname
