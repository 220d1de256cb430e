-- (SQLite) The other snapshot of the delta, attached (read-only like the main one) so one query joins both.
ATTACH DATABASE ? AS other
