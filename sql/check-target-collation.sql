-- Does this database sort text as SQLite did (BINARY collation: byte order)? Asked by sorting a few strings
-- with the database's default collation, so the answer holds whatever the provider (libc C / POSIX / C.UTF-8,
-- ICU, builtin) and version; datcollate only names it for the message. ASCII only, so the probe works in any
-- server encoding (case, punctuation and spaces are where language rules and bytes disagree).
SELECT (SELECT datcollate FROM pg_database WHERE datname = current_database()) AS collation_name,
       (SELECT array_agg(x ORDER BY x) FROM (VALUES ('b'), ('B'), ('a b'), ('a'), ('_z'), ('ab'), ('Z'), ('a-c')) AS v(x))
         = ARRAY['B', 'Z', '_z', 'a', 'a b', 'a-c', 'ab', 'b'] AS byte_order
