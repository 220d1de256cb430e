-- The delta's rows for one table and kind, in COPY text format (load-pg's encoders).
COPY {{stage}} ({{columns}}) FROM STDIN WITH (FORMAT text);
