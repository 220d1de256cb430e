-- (SQLite) Every page of every b-tree (interior, leaf and overflow pages) with the table or index it belongs to.
SELECT name, pageno FROM dbstat
