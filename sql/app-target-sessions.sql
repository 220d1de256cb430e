-- Client sessions on the target database other than ours, to match against the app's TCP sockets.
SELECT pid, host(client_addr) AS client_addr, client_port, application_name
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
