-- Rows now in one loaded table, compared with the snapshot's count.
SELECT count(*)::bigint AS n FROM {{schema}}.{{table}};
