-- Schema public inside the app's database: present, owned by the role (directly, or through
-- pg_database_owner as PostgreSQL 15+ sets it up), and usable + creatable by the role.
-- $1 = role name
SELECT n.oid IS NOT NULL AS schema_exists,
       pg_get_userbyid(n.nspowner) AS schema_owner,
       coalesce(n.nspowner = r.oid, false) AS schema_owned,
       coalesce(has_schema_privilege(r.oid, n.oid, 'CREATE'), false) AS can_create,
       coalesce(has_schema_privilege(r.oid, n.oid, 'USAGE'), false) AS can_use
FROM (SELECT 'public'::text AS name) AS wanted
LEFT JOIN pg_namespace n ON n.nspname = wanted.name
LEFT JOIN pg_roles r ON r.rolname = $1
