-- Current state of the app's role and database, so create-role changes only what differs (and a second run
-- changes nothing). CONNECT is read from the ACL itself (acldefault when none was ever set): PUBLIC's grant
-- (grantee 0) is what REVOKE CONNECT … FROM PUBLIC removes; the database owner holds CONNECT implicitly.
-- $1 = role name, $2 = database name
SELECT current_setting('is_superuser') = 'on' AS admin_is_superuser,
       current_user AS admin_role,
       current_setting('server_version_num')::int AS server_version_num,
       r.oid IS NOT NULL AS role_exists,
       coalesce(r.rolcanlogin, false) AS rolcanlogin,
       coalesce(r.rolsuper, false) AS rolsuper,
       coalesce(r.rolcreaterole, false) AS rolcreaterole,
       coalesce(r.rolcreatedb, false) AS rolcreatedb,
       d.oid IS NOT NULL AS database_exists,
       pg_get_userbyid(d.datdba) AS database_owner,
       coalesce(d.datdba = r.oid, false) AS database_owned,
       pg_encoding_to_char(d.encoding) AS database_encoding,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT') AS public_can_connect,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT') AS role_can_connect,
       -- template0's provider (column since 15; read through to_jsonb so one query serves every version) and
       -- LC_CTYPE: what a new database created with a libc collation inherits for upper/lower and ILIKE.
       (SELECT coalesce(to_jsonb(t) ->> 'datlocprovider', 'c') FROM pg_database t WHERE t.datname = 'template0') AS template_provider,
       (SELECT t.datctype FROM pg_database t WHERE t.datname = 'template0') AS template_ctype
FROM (SELECT $1::text AS role_name, $2::text AS database_name) AS wanted
LEFT JOIN pg_roles r ON r.rolname = wanted.role_name
LEFT JOIN pg_database d ON d.datname = wanted.database_name
