-- The transaction ids bounding this snapshot (xid8, with epoch): every row version written by a transaction at or
-- after xmin may be invisible to it; xmax is the first id not yet handed out when it was taken.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
       pg_snapshot_xmax(pg_current_snapshot())::text AS xmax
