-- COMMENT is a utility statement and takes no $n parameters: the marker is passed through escapeLiteral.
COMMENT ON SCHEMA {{schema}} IS {{marker}}
