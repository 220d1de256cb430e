-- Fresh planner statistics for one loaded table (a table loaded by COPY has none until autovacuum gets to it).
ANALYZE {{schema}}.{{table}};
