-- The export's snapshot, named so a second connection can compute the content hashes in the very same view.
SELECT pg_export_snapshot() AS snapshot
