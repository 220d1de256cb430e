-- (SQLite) The original file was in WAL mode (its header says so): the fallback file is too.
PRAGMA journal_mode = WAL
