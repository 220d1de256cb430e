-- Up to three rows of {{table}} whose foreign key ({{columns}}) points at no row of {{refTable}}: what the operator needs
-- to see when VALIDATE CONSTRAINT fails. MATCH SIMPLE semantics: a key with any NULL column is not checked.
SELECT {{columnsAliased}}
FROM {{schema}}.{{table}} AS c
WHERE {{notNull}}
  AND NOT EXISTS (SELECT 1 FROM {{refSchema}}.{{refTable}} AS p WHERE {{join}})
LIMIT 3;
