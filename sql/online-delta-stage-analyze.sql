-- Statistics for the staged keys, so the planner reads a few keys through the index instead of the whole table.
ANALYZE {{stage}}
