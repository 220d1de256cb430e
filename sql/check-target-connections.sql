-- Connection slots left for the connecting role: the server's max_connections less the slots reserved for
-- superusers (and, from PostgreSQL 16, for pg_use_reserved_connections) and the sessions open now (ours included),
-- and the role's and the database's own CONNECTION LIMIT (-1 = none).
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS in_use,
       r.rolsuper AS superuser,
       r.rolconnlimit AS role_limit,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usesysid = r.oid)::int AS role_in_use,
       d.datconnlimit AS database_limit,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datid = d.oid)::int AS database_in_use
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
