-- (SQLite) Page size of the database: the unit in which two snapshots made by the backup API are compared.
PRAGMA page_size
