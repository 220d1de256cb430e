-- --force cleanup: one enum/domain/composite/range type of the target schema (Prisma's enums live here).
DROP {{kind}} IF EXISTS {{schema}}.{{name}} CASCADE;
