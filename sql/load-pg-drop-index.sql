-- An index without a constraint, dropped before COPY (its definition was saved to deferred-objects.json first).
DROP INDEX IF EXISTS {{schema}}.{{name}};
