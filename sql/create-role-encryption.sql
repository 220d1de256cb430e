-- Any password this session stores is SCRAM (we send a ready SCRAM verifier anyway, so the cleartext never
-- reaches the server or its statement log).
SET password_encryption = 'scram-sha-256'
