-- Content gate: one table's content hash over the canonical row form of docs/design.md, computed where the
-- data lives. {{fields}} gives every column's field text (f0, f1, …); OFFSET 0 keeps that subquery from being
-- flattened, so each field expression is evaluated once rather than once per reference in {{row_text}}.
-- sum(bigint) accumulates exactly (int128) and returns numeric, so the text equals export-sqlite's BigInt sum.
SELECT count(*)::text AS row_count,
       coalesce(sum(h), 0)::text AS content_hash
FROM (
  SELECT ('x' || substr(md5({{row_text}}), 1, 16))::bit(64)::bigint AS h
  FROM (SELECT {{fields}} FROM {{table}} AS c OFFSET 0) AS f
) AS r
