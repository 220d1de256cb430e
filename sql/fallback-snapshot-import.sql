-- (After fallback-snapshot-begin) see exactly what the export's connection sees; {{snapshot}} is an escaped literal.
SET TRANSACTION SNAPSHOT {{snapshot}}
