-- By default every role may connect to every database; the app's database is for the app's role only.
REVOKE CONNECT ON DATABASE {{database}} FROM PUBLIC
