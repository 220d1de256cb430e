-- The stored password verifier (superuser only: pg_authid is not readable otherwise). create-role checks it
-- against the password file in Node, so an unchanged password is not rewritten and never sent.
-- $1 = role name
SELECT rolpassword FROM pg_authid WHERE rolname = $1
