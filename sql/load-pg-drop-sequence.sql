-- --force cleanup: a stand-alone sequence left in the target schema after its tables were dropped.
DROP SEQUENCE IF EXISTS {{schema}}.{{name}} CASCADE;
