-- The ownership marker this suite writes as a COMMENT (invisible to Prisma's models and drift): the target schema's
-- own comment, else the database's (written when the role owns the database but not the schema).
-- $1 = schema name
SELECT (SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname = $1) AS schema_comment,
       shobj_description(d.oid, 'pg_database') AS database_comment,
       EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = $1) AS schema_exists
FROM pg_database d
WHERE d.datname = current_database()
