-- Re-add a deferred constraint. The definition is PostgreSQL's own pg_get_constraintdef() output captured from
-- this database before the load (not input); foreign keys get NOT VALID appended so adding is instant and the
-- check happens in VALIDATE CONSTRAINT, which takes only a SHARE UPDATE EXCLUSIVE lock.
ALTER TABLE {{schema}}.{{table}} ADD CONSTRAINT {{name}} {{definition}};
