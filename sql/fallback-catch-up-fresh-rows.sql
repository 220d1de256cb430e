-- Catch-up, one table: the row versions written at or after the export's snapshot xmin ($1, as in
-- fallback-catch-up-count.sql), each with its canonical row hash (docs/design.md) and its field texts f0…fn.
SELECT ('x' || substr(md5({{row_text}}), 1, 16))::bit(64)::bigint::text AS row_hash, f.*
FROM (SELECT {{fields}} FROM {{table}} AS c WHERE age(c.xmin) <= age($1::text::xid) OFFSET 0) AS f
