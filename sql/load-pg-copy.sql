-- Stream one table's rows in COPY text format. FREEZE writes the rows already frozen (no hint-bit rewrite or
-- anti-wraparound vacuum of the freshly loaded table later, which also makes verify's first full scan cheaper).
COPY {{schema}}.{{table}} ({{columns}}) FROM STDIN WITH (FORMAT text, FREEZE);
