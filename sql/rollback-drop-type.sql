-- rollback --drop-target: one enum type of the app (Prisma creates one PostgreSQL enum per schema enum).
DROP TYPE IF EXISTS {{schema}}.{{name}} CASCADE;
