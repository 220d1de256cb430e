-- (SQLite) Rows whose foreign key points at a missing parent. SQLite only enforces foreign keys when the app
-- enables them per connection, so orphans can exist; PostgreSQL will reject them when the constraints are validated.
PRAGMA foreign_key_check
