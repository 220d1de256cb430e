-- Is *this* connection encrypted? (pg_stat_ssl has one row per backend.)
SELECT ssl, version AS tls_version, cipher
FROM pg_stat_ssl
WHERE pid = pg_backend_pid();
