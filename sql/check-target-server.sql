-- Who and where we are on this connection: server version (numeric, for the support check), the role we
-- authenticated as and whether it is a superuser (the app should not run as one).
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       current_user AS role_name,
       current_database() AS database_name,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
