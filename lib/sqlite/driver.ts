import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * The one place better-sqlite3 is loaded. Node >= 22 gets better-sqlite3 13, a Node-API build that ships prebuilt in
 * its package; Node 20 gets 12, because 13 needs Node-API 10. 12 cannot serve Node 24: built against Node 24.19's
 * headers, its objects abort the process when V8 collects them outside a JavaScript context.
 */
const require = createRequire(import.meta.url);

export type DriverPackage = 'better-sqlite3' | 'better-sqlite3-napi';

/** Which better-sqlite3 serves this Node, and why it cannot when none can. */
export function chooseDriver(
  nodeVersion: string,
  isInstalled: (pkg: DriverPackage) => boolean,
): { pkg: DriverPackage; problem?: string } {
  const major = Number(nodeVersion.split('.')[0]);
  if (major >= 22 && isInstalled('better-sqlite3-napi')) return { pkg: 'better-sqlite3-napi' };
  if (major < 24) return { pkg: 'better-sqlite3' };
  return {
    pkg: 'better-sqlite3',
    problem: `Node ${nodeVersion} needs better-sqlite3 13 (better-sqlite3-napi), which npm ci left out: run npm ci again with network access or npm_config_nodedir set`,
  };
}

function isInstalled(pkg: DriverPackage): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const choice = chooseDriver(process.versions.node, isInstalled);

/** Why this process cannot use SQLite safely, or undefined; the CLI refuses with it before a task starts. */
export const driverProblem: string | undefined = choice.problem;

const Database = require(choice.pkg) as typeof BetterSqlite3;
// A type-only namespace merges with the value, so `Database.Database` keeps naming the connection type.
// eslint-disable-next-line @typescript-eslint/no-namespace
declare namespace Database {
  export type Database = BetterSqlite3.Database;
  export type Statement<BindParameters extends unknown[] | {} = unknown[], Result = unknown> = BetterSqlite3.Statement<
    BindParameters,
    Result
  >;
  export type Options = BetterSqlite3.Options;
}
export default Database;
