-- The marker on the database when the role may not comment on the schema; {{database}} via escapeIdentifier.
COMMENT ON DATABASE {{database}} IS {{marker}}
