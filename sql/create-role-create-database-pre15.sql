-- create-role-create-database.sql for PostgreSQL before 15, which has no LOCALE_PROVIDER (libc is the only one).
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C'
