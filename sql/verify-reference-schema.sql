-- Integrity gate: a scratch schema for the reference copy of the Prisma schema's DDL. Created inside a
-- transaction that is always rolled back, so nothing of it ever persists on the target.
CREATE SCHEMA {{schema}};
SET LOCAL search_path TO {{schema}};
