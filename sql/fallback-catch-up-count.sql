-- Catch-up, one table: its rows now and how many of them are row versions written at or after the export's snapshot
-- xmin ($1, a 32-bit xid). age() compares transaction ids modulo 2^32, valid while they are < 2^31 apart (checked
-- by the caller); a frozen or special xmin has age 2^31-1 and counts as old.
SELECT count(*)::text AS row_count,
       count(*) FILTER (WHERE age(c.xmin) <= age($1::text::xid))::text AS fresh
FROM {{table}} AS c
