-- Stream one table in the canonical row form of docs/design.md ({{fields}}: every column's `N`/`V…` text), COPY
-- text format: the SQLite cells are written from exactly the text the content hash is computed over.
COPY (SELECT {{fields}} FROM {{table}} AS c) TO STDOUT WITH (FORMAT text)
