-- (SQLite) Every row of one snapshot table, the Prisma model's columns in schema order. Shared by export-sqlite
-- (content hash), load-pg (COPY) and verify (narrowing a mismatch). No ORDER BY: the content hash is an
-- order-independent sum and a plain scan in storage order is the fastest read; load-pg-sqlite-row-at repeats
-- this exact scan to find the row behind a COPY line number.
SELECT {{columns}} FROM {{table}}
