-- Session settings of load-pg's connections when PostgreSQL runs on the same host (loadSessionStatements in
-- lib/steps/load-pg.ts): every slot already keeps a core busy, so the parallel workers PostgreSQL would start for an
-- index build, or for the anti-join that validates a foreign key, only add their start-up and coordination to a
-- saturated machine (validating the bench's 37 foreign keys: 0.65-0.68 CPU-s serial against 0.77-0.86 with workers,
-- the same wall time even on an idle server). A server of its own keeps its defaults.
SET max_parallel_maintenance_workers = 0;
SET max_parallel_workers_per_gather = 0;
