-- Proof that the next id the sequence ($1) hands out is free: draw it and compare with the table's largest id
-- (run inside a transaction that is rolled back; nextval itself is not transactional, so the caller restores
-- the sequence with load-pg-sequence-reset afterwards).
SELECT nextval($1::regclass)::text AS next_value,
       (SELECT max({{column}}) FROM {{schema}}.{{table}})::text AS max_id,
       EXISTS (SELECT 1 FROM {{schema}}.{{table}} WHERE {{column}} = currval($1::regclass)) AS taken;
