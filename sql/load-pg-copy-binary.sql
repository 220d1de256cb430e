-- Stream one table's rows in COPY's binary format (copy-binary.ts): PostgreSQL runs the types' receive functions
-- instead of their text parsers. FREEZE as in load-pg-copy.sql.
COPY {{schema}}.{{table}} ({{columns}}) FROM STDIN WITH (FORMAT binary, FREEZE);
