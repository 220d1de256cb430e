-- Which of the extensions the app's schema needs can be created on this server (available) or already are.
-- $1 = extension names (text[])
SELECT name, installed_version
FROM pg_available_extensions
WHERE name = ANY($1::text[])
