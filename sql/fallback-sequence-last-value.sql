-- The last value PostgreSQL's serial sequence handed out for one column ($1 quoted table, $2 column), NULL when the
-- sequence was never used or the column has none.
SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass)::text AS last_value
