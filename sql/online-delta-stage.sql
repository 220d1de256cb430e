-- The online cutover's staging table for one table and one kind of change: the target's column types, no rows,
-- dropped with the transaction at the latest. Temporary tables are not in the app's schema, so pg_stat counts
-- for the app's tables show only what the delta itself wrote.
CREATE TEMPORARY TABLE {{stage}} ON COMMIT DROP AS SELECT {{columns}} FROM {{table}} WITH NO DATA;
