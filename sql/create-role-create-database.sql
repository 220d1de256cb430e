-- The app's database, owned by its role. template0 + UTF8 so the encoding does not depend on template1.
CREATE DATABASE {{database}} OWNER {{role}} ENCODING 'UTF8' TEMPLATE template0
