-- The staging table of one table and kind, done with (the next one has the same name).
DROP TABLE {{stage}};
