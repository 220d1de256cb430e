-- Does this database sort text as SQLite did (BINARY collation: byte order)? Asked by sorting a few strings
-- with the database's default collation, so the answer holds whatever the provider (libc C / POSIX / C.UTF-8,
-- ICU, builtin) and version; datcollate only names it for the message.
SELECT (SELECT datcollate FROM pg_database WHERE datname = current_database()) AS collation_name,
       (SELECT array_agg(x ORDER BY x) FROM (VALUES ('b'), ('é'), ('B'), ('a b'), ('a'), ('_z'), ('ab'), ('Z')) AS v(x))
         = ARRAY['B', 'Z', '_z', 'a', 'a b', 'ab', 'b', 'é'] AS byte_order
