-- (SQLite) The app's schema as its file holds it, in the order it was created (a view after its tables): what the
-- fallback file is built from when the app's migrations do not run in this SQLite build. _prisma_migrations and
-- SQLite's own tables come separately.
SELECT type, name, sql FROM sqlite_master
WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> '_prisma_migrations'
ORDER BY rowid
