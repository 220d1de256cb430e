-- Integrity gate: up to 5 child rows whose foreign key (all columns non-NULL: MATCH SIMPLE) has no parent row.
-- An anti-join (NOT EXISTS), so PostgreSQL can answer it with one hash anti-join or index probes; checked even
-- when the constraint is present and validated, because a load with triggers disabled could have bypassed it.
SELECT {{columns}}
FROM {{table}} AS c
WHERE {{not_null}}
  AND NOT EXISTS (SELECT 1 FROM {{ref_table}} AS p WHERE {{join}})
LIMIT 5
