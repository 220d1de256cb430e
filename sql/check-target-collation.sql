-- Does this database sort text as SQLite did (BINARY collation: byte order)? Asked by sorting a few strings
-- with the database's default collation, so the answer holds whatever the provider (libc C / POSIX / C.UTF-8,
-- ICU, builtin) and version. ASCII only, so the probe works in any server encoding (case, punctuation and spaces
-- are where language rules and bytes disagree). collation_name only names it for the message: the ICU or builtin
-- locale when the database uses one (columns that differ by version, read through to_jsonb), else libc's.
SELECT CASE to_jsonb(d) ->> 'datlocprovider'
         WHEN 'i' THEN 'ICU ' || coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale')
         WHEN 'b' THEN 'builtin ' || (to_jsonb(d) ->> 'datlocale')
         ELSE d.datcollate
       END AS collation_name,
       (SELECT array_agg(x ORDER BY x) FROM (VALUES ('b'), ('B'), ('a b'), ('a'), ('_z'), ('ab'), ('Z'), ('a-c')) AS v(x))
         = ARRAY['B', 'Z', '_z', 'a', 'a b', 'a-c', 'ab', 'b'] AS byte_order
FROM pg_database d
WHERE d.datname = current_database()
