-- Can the connecting role run what load-pg runs? Both ways of building the schema start with
-- `CREATE SCHEMA IF NOT EXISTS`, which PostgreSQL checks against CREATE on the database even when the schema exists;
-- the tables need CREATE + USAGE on the schema (PostgreSQL 15 no longer grants CREATE on public to PUBLIC).
-- $1 = schema name
SELECT n.oid IS NOT NULL AS schema_exists,
       CASE WHEN n.oid IS NULL THEN NULL ELSE has_schema_privilege(n.oid, 'CREATE') END AS schema_create,
       CASE WHEN n.oid IS NULL THEN NULL ELSE has_schema_privilege(n.oid, 'USAGE') END AS schema_usage,
       CASE WHEN n.oid IS NULL THEN NULL ELSE pg_get_userbyid(n.nspowner) END AS schema_owner,
       has_database_privilege(current_database(), 'CREATE') AS database_create
FROM (SELECT $1::text AS name) AS wanted
LEFT JOIN pg_namespace n ON n.nspname = wanted.name
