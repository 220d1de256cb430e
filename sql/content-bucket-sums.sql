-- Content gate, narrowing a mismatch: per-bucket row counts and hash sums, the bucket being the first two hex
-- digits of md5(key text) (docs/design.md). export-sqlite's side is computed the same way in JS; only the
-- buckets whose sums differ are looked at row by row.
SELECT substr(md5(k), 1, 2) AS bucket,
       count(*)::int AS row_count,
       sum(h)::text AS bucket_sum
FROM (
  SELECT {{key_text}} AS k,
         ('x' || substr(md5({{row_text}}), 1, 16))::bit(64)::bigint AS h
  FROM (SELECT {{fields}} FROM {{table}} AS c OFFSET 0) AS f
) AS r
GROUP BY 1
