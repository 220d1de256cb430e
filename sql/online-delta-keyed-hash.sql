-- The content hash (docs/design.md) of the rows at the keys the online delta staged: the target's side of a hash
-- the delta brings forward. Same row form as content-hash.sql; the semi-join reads only the staged keys' rows
-- through the primary key.
SELECT count(*)::text AS row_count,
       coalesce(sum(h), 0)::text AS content_hash
FROM (
  SELECT ('x' || substr(md5({{row_text}}), 1, 16))::bit(64)::bigint AS h
  FROM (
    SELECT {{fields}} FROM {{table}} AS c WHERE EXISTS (SELECT 1 FROM {{stage}} AS s WHERE {{match}}) OFFSET 0
  ) AS f
) AS r
