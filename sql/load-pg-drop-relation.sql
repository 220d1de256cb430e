-- --force cleanup of one relation of the target schema. {{kind}} is a keyword from a fixed list in code
-- (TABLE, VIEW, MATERIALIZED VIEW, FOREIGN TABLE), never input. CASCADE takes dependent views/FKs along;
-- it needs no superuser: the owner of an object may drop it.
DROP {{kind}} IF EXISTS {{schema}}.{{name}} CASCADE;
