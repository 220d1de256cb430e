-- How many rows of {{table}} have a foreign key ({{columns}}) pointing at no row of {{refTable}} (MATCH SIMPLE: a key
-- with any NULL column is not checked), for the one-line refusal when VALIDATE CONSTRAINT fails.
SELECT count(*)::text AS orphan_count
FROM {{schema}}.{{table}} AS c
WHERE {{notNull}}
  AND NOT EXISTS (SELECT 1 FROM {{refSchema}}.{{refTable}} AS p WHERE {{join}});
