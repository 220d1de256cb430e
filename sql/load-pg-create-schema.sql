-- A non-public target schema (`?schema=` in the URL) is created if missing, as `prisma migrate deploy` does.
CREATE SCHEMA IF NOT EXISTS {{schema}};
