-- (SQLite) Every page of every b-tree with the table or index it belongs to, its kind (internal, leaf, overflow) and
-- its path in the tree: an overflow page's path starts with the path of the leaf whose cell it continues.
SELECT name, pageno, pagetype, path FROM dbstat
