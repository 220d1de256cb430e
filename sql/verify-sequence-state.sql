-- Integrity gate: a sequence's position next to the largest value of the column it feeds. Reading the sequence
-- relation itself (not pg_sequences) gives is_called, which tells whether last_value was already handed out.
SELECT s.last_value::text AS last_value,
       s.is_called,
       (SELECT max(c.{{column}})::text FROM {{table}} AS c) AS max_value
FROM {{sequence}} AS s
