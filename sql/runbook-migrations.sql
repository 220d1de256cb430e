-- RUNBOOK: Prisma's migration history on PostgreSQL. Every row must have finished_at set and rolled_back_at NULL;
-- the names must match the folders in backend/prisma/migrations, or the app's `prisma migrate deploy` will act.
SELECT migration_name, started_at, finished_at, rolled_back_at, applied_steps_count, left(checksum, 12) AS checksum
FROM "_prisma_migrations"
ORDER BY started_at, migration_name;
