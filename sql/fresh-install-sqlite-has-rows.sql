-- fresh-install (SQLite, read-only): does this table hold any row? {{table}} is quoted with escapeIdentifier
-- (double quotes, valid in SQLite too). fresh-install refuses to switch an install that has data: that is upgrade's job.
SELECT EXISTS (SELECT 1 FROM {{table}}) AS has_rows;
