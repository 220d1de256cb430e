-- (SQLite) Full structural check of the snapshot (not the live file): one row 'ok', or one row per problem found.
PRAGMA integrity_check
