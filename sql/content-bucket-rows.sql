-- Content gate, narrowing a mismatch: every row of the given buckets ($1, text[]) with its key text, row hash
-- and field texts, so differing rows can be named by key and shown column by column.
SELECT k AS key_text,
       h::text AS row_hash,
       fields
FROM (
  SELECT {{key_text}} AS k,
         ('x' || substr(md5({{row_text}}), 1, 16))::bit(64)::bigint AS h,
         {{field_array}} AS fields
  FROM (SELECT {{fields}} FROM {{table}} AS c OFFSET 0) AS f
) AS r
WHERE substr(md5(k), 1, 2) = ANY ($1::text[])
