-- Benchmark: a small change on PostgreSQL after the fallback's export (100 Setting rows touched, as an app's
-- background jobs would), for the catch-up inside the window to carry.
UPDATE "Setting" SET "updatedAt" = now() WHERE "key" IN (SELECT "key" FROM "Setting" ORDER BY "key" LIMIT 100)
