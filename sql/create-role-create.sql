-- The app's login role: no superuser, no role or database creation. The PASSWORD literal is a SCRAM-SHA-256
-- verifier (RFC 5803 form), not the password. Utility statements take no $n parameters, hence a literal.
CREATE ROLE {{role}} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {{verifier}}
