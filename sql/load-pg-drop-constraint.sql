-- A foreign key, primary key or unique constraint dropped before COPY (definition saved to deferred-objects.json first).
ALTER TABLE {{schema}}.{{table}} DROP CONSTRAINT IF EXISTS {{name}};
