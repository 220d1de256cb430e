-- Check every existing row against a foreign key added NOT VALID.
ALTER TABLE {{schema}}.{{table}} VALIDATE CONSTRAINT {{name}};
