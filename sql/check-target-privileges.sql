-- Can the connecting role build the app's schema? Prisma creates tables in the target schema (CREATE + USAGE
-- on it; PostgreSQL 15 no longer grants CREATE on public to PUBLIC) or, when the schema does not exist yet,
-- creates the schema itself (CREATE on the database).
-- $1 = schema name
SELECT n.oid IS NOT NULL AS schema_exists,
       CASE WHEN n.oid IS NULL THEN NULL ELSE has_schema_privilege(n.oid, 'CREATE') END AS schema_create,
       CASE WHEN n.oid IS NULL THEN NULL ELSE has_schema_privilege(n.oid, 'USAGE') END AS schema_usage,
       has_database_privilege(current_database(), 'CREATE') AS database_create
FROM (SELECT $1::text AS name) AS wanted
LEFT JOIN pg_namespace n ON n.nspname = wanted.name
