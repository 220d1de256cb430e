-- (SQLite) Every view of the snapshot: not data; the Prisma schema may declare them as `view` blocks.
SELECT name FROM sqlite_schema WHERE type = 'view'
