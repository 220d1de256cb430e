-- Rows new in SQLite since the last applied snapshot (a changed key arrives here after its old key was deleted).
INSERT INTO {{table}} ({{columns}}) SELECT {{columns}} FROM {{stage}};
