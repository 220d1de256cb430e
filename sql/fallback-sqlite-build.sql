-- (SQLite) A new file being built: no rollback journal and no fsync per transaction (a crash throws the half-built
-- file away and the export starts again), foreign keys checked once at the end, the original file's page size, and
-- a 32 MB page cache (with the default 2 MB the growing indexes are written out and read back page by page).
PRAGMA page_size = {{page_size}};
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = OFF;
PRAGMA cache_size = -32768;
