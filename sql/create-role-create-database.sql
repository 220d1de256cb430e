-- The app's database, owned by its role (PostgreSQL 17 and later). template0 + UTF8 so the encoding does not
-- depend on template1. The builtin provider's C.UTF-8 sorts and compares text by code point, which for UTF-8 is
-- byte order: the order SQLite's BINARY collation gave the app, so lists it sorts by text keep their order. Its
-- comparisons are memcmp (fast sorts, index builds, ANALYZE), text indexes never depend on the OS's collation
-- library (no REINDEX after a glibc upgrade), and upper/lower/ILIKE still follow Unicode.
-- Older servers: create-role-create-database-pg15.sql (15, 16) and create-role-create-database-pre15.sql.
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0 LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'
