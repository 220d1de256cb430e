-- Session setting of load-pg's connections when PostgreSQL runs on the same host (loadSessionStatements in
-- lib/steps/load-pg.ts): every slot already keeps a core busy, so the parallel workers PostgreSQL would start for an
-- index build only add their start-up and coordination to a saturated machine. A server of its own keeps its default.
SET max_parallel_maintenance_workers = 0;
