-- (SQLite) A first read of the live file's schema: a damaged header or first page fails here with a clear cause,
-- before the backup starts.
SELECT count(*) FROM sqlite_schema
