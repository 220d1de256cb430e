-- (SQLite) Turn the snapshot into a self-contained single file: the backup copies the source's header, so a copy of a
-- WAL-mode database would otherwise need -wal/-shm files next to it.
PRAGMA journal_mode = DELETE
