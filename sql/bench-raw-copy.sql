-- Benchmark baseline only (bench/raw-copy.ts): plain COPY of a pre-converted text file, no transaction tricks.
COPY {{schema}}.{{table}} ({{columns}}) FROM STDIN WITH (FORMAT text);
