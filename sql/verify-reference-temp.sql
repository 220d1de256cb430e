-- Integrity gate, when the role may not create schemas in the database (a role with privileges on its schema
-- only): the reference copy goes into this session's temporary schema instead, inside the same rolled-back
-- transaction. Needs only TEMPORARY on the database, which PostgreSQL grants to PUBLIC by default.
SET LOCAL search_path TO pg_temp;
