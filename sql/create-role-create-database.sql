-- The app's database, owned by its role. template0 + UTF8 so the encoding does not depend on template1.
-- LC_COLLATE 'C' (libc, even on a cluster whose default provider is ICU or builtin): text sorts and compares by
-- bytes, as it did in SQLite (BINARY collation), so lists the app sorts by name keep their order; indexes on
-- text never depend on the OS's collation library (no REINDEX after a glibc upgrade); and sorts, index builds
-- and ANALYZE skip locale-aware comparison. LC_CTYPE stays the cluster's (upper/lower, regex classes).
-- PostgreSQL 15 and later; create-role-create-database-pre15.sql is the same without LOCALE_PROVIDER.
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C'
