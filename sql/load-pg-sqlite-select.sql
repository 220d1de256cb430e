-- (SQLite) Read one table of the snapshot for COPY. No ORDER BY: a plain scan in storage order is the fastest
-- read, and load-pg-sqlite-row-at repeats this exact statement to find the row behind a COPY line number.
SELECT {{columns}} FROM {{table}}
