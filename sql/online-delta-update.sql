-- Rows changed in SQLite since the last applied snapshot, same key: every other column takes the new value.
UPDATE {{table}} AS t SET {{assignments}} FROM {{stage}} AS s WHERE {{match}};
