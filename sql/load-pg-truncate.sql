-- First statement of each table's load transaction: a retried table starts empty, and COPY ... FREEZE below
-- is allowed because the table was truncated in this same transaction.
TRUNCATE TABLE {{schema}}.{{table}};
