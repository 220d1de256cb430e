-- create-role-create-database.sql for PostgreSQL 15 and 16, which have no builtin provider: libc collation C
-- (byte order, as in SQLite; memcmp comparisons), even on a cluster whose default provider is ICU. LC_CTYPE is
-- template0's, which decides upper/lower and ILIKE beyond ASCII (create-role warns when that is C or POSIX).
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C'
