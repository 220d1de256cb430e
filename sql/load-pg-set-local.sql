-- Per-table load transaction settings. synchronous_commit off is safe here: a table's COMMIT only needs to be
-- durable by the time load-pg reports success, and the index/constraint builds that follow run with
-- synchronous commit and flush the WAL (which contains these commits) before that. Nothing else changes.
SET LOCAL synchronous_commit = off;
