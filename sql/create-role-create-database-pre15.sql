-- create-role-create-database.sql for PostgreSQL before 15 (libc is the only provider): collation C, byte order
-- as in SQLite; LC_CTYPE is template0's (create-role warns when that is C or POSIX).
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C'
