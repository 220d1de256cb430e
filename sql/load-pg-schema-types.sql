-- Stand-alone types in the target schema ($1) that --force must drop: enums (Prisma's enum types), domains,
-- composite and range types that are not the implicit row type of a table. Array types go with their element type.
SELECT t.typname AS name, t.typtype AS kind
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = $1
  AND t.typtype IN ('e', 'd', 'c', 'r', 'm')
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND t.typelem = 0
  -- Types an extension installed here (citext, hstore, …) belong to the extension.
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.typname;
