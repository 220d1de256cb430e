-- Every index of the app's tables in schema $1, primary keys included, with the exact statement that recreates
-- each. A btree filled row by row during COPY costs more than one built by a sort afterwards (pg_restore and
-- pgloader defer primary keys for the same reason), and rebuilding a unique one also proves uniqueness.
-- constraint_name is set when the index backs a PRIMARY KEY/UNIQUE/EXCLUDE constraint (then it is dropped and
-- re-added as that constraint); Prisma creates plain unique indexes, but a hand-made constraint must survive too.
SELECT t.relname AS table_name,
       i.relname AS index_name,
       pg_get_indexdef(x.indexrelid) AS index_def,
       con.conname AS constraint_name,
       CASE WHEN con.oid IS NULL THEN NULL ELSE pg_get_constraintdef(con.oid) END AS constraint_def,
       x.indisunique AS is_unique,
       x.indisprimary AS is_primary
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x') AND con.conrelid = t.oid
WHERE n.nspname = $1
  AND t.relkind IN ('r', 'p')
  AND t.relname <> '_prisma_migrations'
  AND t.relname = ANY ($2::text[])
  -- An index a foreign key of some other table relies on stays: that key is not deferred, so the index cannot go.
  AND NOT EXISTS (SELECT 1
                  FROM pg_constraint f
                  JOIN pg_class ft ON ft.oid = f.conrelid
                  JOIN pg_namespace fn ON fn.oid = ft.relnamespace
                  WHERE f.contype = 'f'
                    AND f.conindid = x.indexrelid
                    AND NOT (fn.nspname = $1 AND ft.relname = ANY ($2::text[])))
  -- So does a constraint something else depends on, such as a view that groups by the primary key and selects
  -- other columns of the table (functional dependency): dropping it would fail, or take the view with it.
  AND NOT EXISTS (SELECT 1
                  FROM pg_depend d
                  WHERE d.refclassid = 'pg_constraint'::regclass
                    AND d.refobjid = con.oid
                    AND d.deptype = 'n')
-- Primary key first in each table's list: a duplicated key is then reported against the primary key, not against a
-- secondary unique index that happens to cover the same column.
ORDER BY t.relname, x.indisprimary DESC, i.relname;
