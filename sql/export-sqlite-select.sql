-- (SQLite) The one pass over a table: every column of the Prisma model in schema order. No ORDER BY: the content
-- hash is an order-independent sum, and a plain scan in storage order is the fastest read.
SELECT {{columns}} FROM {{table}}
