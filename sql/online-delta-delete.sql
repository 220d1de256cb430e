-- Rows gone from SQLite since the last applied snapshot (keys staged).
DELETE FROM {{table}} AS t USING {{stage}} AS s WHERE {{match}};
