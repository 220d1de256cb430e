-- The database this session is connected to.
SELECT current_database() AS name
