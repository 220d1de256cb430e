-- upgrade --dry-run (SQLite, read-only): the user tables of the live file, to compare with the Prisma schema.
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;
