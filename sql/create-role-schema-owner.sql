-- Before PostgreSQL 15, public is owned by the bootstrap superuser; the app's role owns it here so Prisma can
-- create, alter and drop in it.
ALTER SCHEMA public OWNER TO {{role}}
