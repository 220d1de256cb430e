-- Every load-pg connection resolves names in the target schema, so definitions captured with
-- pg_get_indexdef / pg_get_constraintdef (which qualify only names outside the search path) re-apply identically.
SET search_path TO {{schema}};
