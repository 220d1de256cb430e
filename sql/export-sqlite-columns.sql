-- (SQLite) Column names of one snapshot table (?), in declaration order, to compare with the Prisma schema.
SELECT name FROM pragma_table_info(?)
