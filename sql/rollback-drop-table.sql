-- rollback --drop-target: one table of the app in the target schema. Names come from the Prisma schema and are
-- quoted with escapeIdentifier. CASCADE removes the foreign keys pointing at it; the owner needs no superuser.
-- Only the app's tables go: the database, the schema and the role stay.
DROP TABLE IF EXISTS {{schema}}.{{name}} CASCADE;
