GRANT CONNECT ON DATABASE {{database}} TO {{role}}
