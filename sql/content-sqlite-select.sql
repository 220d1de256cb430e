-- (SQLite) Content gate, narrowing a mismatch: every row of one snapshot table, columns in schema order, so the
-- canonical form of each row can be recomputed in JS exactly as export-sqlite did. No ORDER BY: row order does
-- not matter to bucket sums, and a plain scan is the fastest read.
SELECT {{columns}} FROM {{table}}
