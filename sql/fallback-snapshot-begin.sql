-- One consistent view of PostgreSQL for the whole export and its content hashes.
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY
