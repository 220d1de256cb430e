ALTER DATABASE {{database}} OWNER TO {{role}}
