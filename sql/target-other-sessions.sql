-- Client sessions on the target database other than ours: a connected app means the database is in use.
-- Sessions of this suite (its application_name) are excluded; $1 = that application_name.
SELECT pid, usename AS "user", application_name AS application, client_addr::text AS address, backend_start AS since
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND coalesce(application_name, '') <> $1
ORDER BY backend_start
