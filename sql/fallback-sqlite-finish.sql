-- (SQLite) The finished file: the original file's user_version and a normal rollback journal from here on.
PRAGMA user_version = {{user_version}};
PRAGMA journal_mode = DELETE;
