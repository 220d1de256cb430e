-- The PASSWORD literal is a SCRAM-SHA-256 verifier, never the cleartext password.
ALTER ROLE {{role}} PASSWORD {{verifier}}
