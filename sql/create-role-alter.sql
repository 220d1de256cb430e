-- Bring an existing role's attributes in line; the options are built only from fixed keywords
-- (LOGIN, NOSUPERUSER, NOCREATEROLE, NOCREATEDB).
ALTER ROLE {{role}} {{options}}
