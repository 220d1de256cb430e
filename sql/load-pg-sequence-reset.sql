-- Point an autoincrement sequence ($1) just past the largest loaded id: the next nextval() returns max(id)+1.
-- An empty table (or only ids below 1) gets setval(1, false) so the first insert receives 1.
SELECT setval($1::regclass, greatest(coalesce(max({{column}}), 0), 1), coalesce(max({{column}}), 0) >= 1)::text AS value,
       max({{column}})::text AS max_id
FROM {{schema}}.{{table}};
