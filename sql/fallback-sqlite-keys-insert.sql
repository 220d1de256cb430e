-- (SQLite) One key PostgreSQL has now.
INSERT INTO {{keys}} VALUES ({{params}})
