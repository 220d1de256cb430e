-- Every table-like relation in the target schema ($1), for the "is the target empty?" check and for
-- --force cleanup. Partitioned tables and views count too: any of them means somebody's data lives here.
SELECT c.relname AS name, c.relkind AS kind, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  -- A partition is dropped with its parent; listing it separately would fail the second DROP.
  AND NOT c.relispartition
  -- Objects of an extension (PostGIS's spatial_ref_sys in public, say) are not ours: neither "data" nor droppable.
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname;
