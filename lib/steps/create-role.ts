import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { StepResult } from '../cli/run-cli.ts';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError, errorMessage, targetNotReady, usageError } from '../errors.ts';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import type { Logger } from '../cli/log.ts';
import { readPasswordFile } from '../cli/password-file.ts';
import { openTarget, type TargetConnection } from '../pg/target.ts';
import { generatePassword, scramVerifier, scramVerifierMatches } from '../pg/scram.ts';
import { registerSecret } from '../cli/secrets.ts';
import { GuardedClient } from '../pg/guarded-client.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { openSsh, type SshSession } from '../pg/ssh-tunnel.ts';

/**
 * create-role: make (or bring back in line) the app's login role and database, idempotently. Reads the current
 * state first and issues only the statements whose effect is missing, so a second run reports "no changes".
 * The password lives only in a 0600 file: generated there when absent, reused when present, sent to the server
 * only as a SCRAM verifier computed here. Two ways in: a privileged DSN (--admin-url, optionally through the SSH
 * tunnel), or --ssh alone, which runs psql as the `postgres` OS user on the database host with the SQL on stdin.
 */
export interface CreateRoleOptions {
  /** Remote command that starts psql as a superuser and reads SQL from stdin (--ssh without --admin-url). */
  remotePsql?: string;
}

export interface CreateRoleResult extends StepResult {
  role: string;
  database: string;
  passwordFile: string;
  /** What was changed (or, with --dry-run, would be); empty on an unchanged second run. */
  changes: string[];
  via: 'admin-url' | 'ssh-psql';
  dryRun: boolean;
  warnings: string[];
}

export const DEFAULT_REMOTE_PSQL = 'sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres';

/** PostgreSQL truncates identifiers to NAMEDATALEN-1 = 63 bytes and cannot store NUL; everything else is quoted. */
export function validateIdentifier(kind: string, value: string): void {
  if (!value) throw usageError(`${kind} name must not be empty`);
  if (value.includes('\0')) throw usageError(`${kind} name must not contain a NUL character`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > 63) throw usageError(`${kind} name is ${bytes} bytes long; PostgreSQL allows at most 63`);
}

/** The default password file when --password-file is not given: next to the app, one per app install. */
export function defaultPasswordFile(settings: Settings): string {
  return path.join(settings.appDir, '.pg-password');
}

/** Kept here for callers that imported it from create-role; the implementation lives in lib/cli/password-file.ts. */
export { readPasswordFile };

interface ClusterState {
  admin_is_superuser: boolean;
  admin_role: string;
  server_version_num: number;
  /** template0's locale provider ('c' libc, 'i' ICU, 'b' builtin) and LC_CTYPE. */
  template_provider: string;
  template_ctype: string | null;
  role_exists: boolean;
  rolcanlogin: boolean;
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  database_exists: boolean;
  database_owner: string | null;
  database_owned: boolean;
  database_encoding: string | null;
  public_can_connect: boolean;
  role_can_connect: boolean;
}

interface SchemaState {
  schema_exists: boolean;
  schema_owner: string | null;
  schema_owned: boolean;
  can_create: boolean;
  can_use: boolean;
}

/** One way of talking to the server as an administrator. */
interface AdminBackend {
  via: CreateRoleResult['via'];
  /** Rows of sql/<name>.sql with $n parameters, in the admin database or in `database`. */
  rows<T>(name: string, params: unknown[], database?: string): Promise<T[]>;
  /** Run statements in order (each its own transaction: CREATE DATABASE cannot run inside one). */
  run(statements: string[], database?: string): Promise<void>;
  /** Does `password` log in as `role`? Only where a direct connection is possible. */
  tryLogin?(role: string, password: string, database: string): Promise<'ok' | 'wrong' | 'unknown'>;
  close(): Promise<void>;
}

function pgFailure(err: unknown, doing: string): DomainError {
  if (err instanceof DomainError) return err;
  const e = err as { code?: string; message?: string };
  if (e?.code === '42501') {
    // PostgreSQL 16+: a CREATEROLE administrator may hand a database to a role only if it may SET ROLE to it.
    const hint = /SET ROLE/.test(e.message ?? '')
      ? " (use a superuser, or on PostgreSQL 16+ give the admin role createrole_self_grant = 'set, inherit')"
      : '';
    return targetNotReady(`insufficient privilege while ${doing}: ${e.message}${hint}`);
  }
  return targetNotReady(`${doing} failed: ${errorMessage(err)}`);
}

async function pgBackend(settings: Settings, log: Logger): Promise<AdminBackend> {
  // The admin DSN's password comes from the URL or the environment, never from the app role's password file.
  const conn: TargetConnection = await openTarget({ ...settings, passwordFile: undefined }, log, {
    url: settings.adminUrl,
    flag: '--admin-url',
  });
  const others = new Map<string, pg.Client>();
  const clientFor = async (database?: string): Promise<pg.Client> => {
    if (!database) return conn.client;
    let client = others.get(database);
    if (!client) {
      client = await conn.connect(database);
      others.set(database, client);
    }
    return client;
  };
  return {
    via: 'admin-url',
    async rows<T>(name: string, params: unknown[], database?: string) {
      const client = await clientFor(database);
      return (await client.query(loadSql(name), params)).rows as T[];
    },
    async run(statements, database) {
      const client = await clientFor(database);
      for (const sql of statements) await client.query(sql);
    },
    async tryLogin(role, password, database) {
      const client = new GuardedClient({ ...conn.clientConfig, user: role, password, database });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return 'ok';
      } catch (err) {
        return (err as { code?: string }).code === '28P01' ? 'wrong' : 'unknown';
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    async close() {
      for (const client of others.values()) await client.end().catch(() => undefined);
      await conn.close();
    },
  };
}

/** psql quoting of a meta-command argument: single quotes, '' for a quote, backslash escapes. */
function psqlArg(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/** `\connect` to another database, keeping host/port/user; the name travels as a conninfo value (no `=` surprises). */
function psqlConnect(database: string): string {
  const conninfo = `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `\\connect -reuse-previous=on ${psqlArg(conninfo)}`;
}

/**
 * psql has no bind parameters for a script on stdin: values are inlined as escaped literals. Comment lines are
 * dropped first so an inlined value can never end up half inside a `--` comment.
 */
function inlineParams(sql: string, params: unknown[]): string {
  const code = sql
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n');
  return code.replace(/\$(\d+)/g, (_m, n: string) => {
    const value = params[Number(n) - 1];
    if (value === undefined) throw new Error(`missing SQL parameter $${n}`);
    return pg.escapeLiteral(String(value));
  });
}

const PSQL_PRELUDE = [
  '\\set QUIET on',
  '\\set ON_ERROR_STOP on',
  '\\pset pager off',
  '\\pset tuples_only on',
  '\\pset format unaligned',
];

async function sshPsqlBackend(settings: Settings, log: Logger, command: string): Promise<AdminBackend> {
  const session: SshSession = await openSsh(settings, log);
  const where = `${session.target.user}@${session.target.host}`;
  const exec = async (script: string): Promise<string> => {
    // The SQL (with SCRAM verifiers, never passwords) goes on stdin; the command line holds no value of ours.
    const result = await session.ssh.execCommand(command, { stdin: script + '\n' });
    if (result.code !== 0) {
      const lines = result.stderr
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/could not change directory/.test(l));
      const cause =
        lines.find((l) => /^(psql:.*)?(ERROR|FATAL)/.test(l)) ?? lines[lines.length - 1] ?? `exit ${result.code}`;
      const privilege = /permission denied|must be superuser|insufficient privilege/i.test(result.stderr);
      throw targetNotReady(
        `${privilege ? 'insufficient privilege: ' : ''}psql on ${where} (${command}) failed: ${cause}`,
      );
    }
    return result.stdout;
  };
  return {
    via: 'ssh-psql',
    async rows<T>(name: string, params: unknown[], database?: string) {
      const query = `SELECT coalesce(json_agg(q), '[]'::json)::text FROM (\n${inlineParams(loadSql(name), params)}\n) AS q;`;
      const script = [...PSQL_PRELUDE, ...(database ? [psqlConnect(database)] : []), query].join('\n');
      const out = (await exec(script))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const last = out[out.length - 1];
      try {
        return JSON.parse(last ?? '') as T[];
      } catch {
        throw targetNotReady(
          `psql on ${where} did not return the expected result (is --remote-psql a psql reading stdin?)`,
        );
      }
    },
    async run(statements, database) {
      if (!statements.length) return;
      const script = [
        ...PSQL_PRELUDE,
        ...(database ? [psqlConnect(database)] : []),
        ...statements.map((s) => `${s};`),
      ].join('\n');
      await exec(script);
    },
    async close() {
      session.close();
    },
  };
}

export async function createRole(
  settings: Settings,
  log: Logger,
  options: CreateRoleOptions = {},
): Promise<CreateRoleResult> {
  const role = settings.role;
  const database = settings.database;
  validateIdentifier('role', role);
  validateIdentifier('database', database);
  if (!settings.adminUrl && !settings.ssh) {
    throw usageError(
      '--admin-url is required (or ADMIN_DATABASE_URL), or --ssh to run psql as the postgres OS user on the database host',
    );
  }
  const passwordFile = settings.passwordFile ?? defaultPasswordFile(settings);
  const existingPassword = existsSync(passwordFile) ? readPasswordFile(passwordFile) : undefined;
  const warnings: string[] = [];
  const changes: string[] = [];
  const ident = { role: pg.escapeIdentifier(role), database: pg.escapeIdentifier(database) };
  const quotedRole = pg.escapeIdentifier(role);

  const backend = settings.adminUrl
    ? await pgBackend(settings, log)
    : await sshPsqlBackend(settings, log, options.remotePsql ?? DEFAULT_REMOTE_PSQL);
  try {
    let state: ClusterState;
    try {
      [state] = await backend.rows<ClusterState>('create-role-state', [role, database]);
    } catch (err) {
      throw pgFailure(err, 'reading the current roles and databases');
    }
    log.debug(
      `admin role ${state.admin_role}${state.admin_is_superuser ? ' (superuser)' : ''}, server ${state.server_version_num}`,
    );

    // The password: reuse the file's, or make one (written before any server change, so a failed run can be
    // repeated with the same password).
    let password = existingPassword;
    if (!password) {
      password = generatePassword();
      registerSecret(password);
      if (settings.dryRun) {
        changes.push(`generate a new password into ${passwordFile} (0600)`);
      } else {
        mkdirSync(path.dirname(passwordFile), { recursive: true, mode: 0o700 });
        writeFileAtomic(passwordFile, password + '\n', 0o600);
        changes.push(`generated a new password into ${passwordFile} (0600)`);
      }
    }
    const verifierLiteral = () => {
      const verifier = scramVerifier(password!);
      registerSecret(verifier);
      return pg.escapeLiteral(verifier);
    };

    // Cluster level: role, its password, the database and who may connect to it.
    const clusterStatements: string[] = [loadSql('create-role-encryption')];
    const clusterChanges: string[] = [];
    if (!state.role_exists) {
      clusterStatements.push(
        sqlWithIdentifiers('create-role-create', { role: quotedRole, verifier: verifierLiteral() }),
      );
      clusterChanges.push(
        `created login role ${quotedRole} (NOSUPERUSER NOCREATEROLE NOCREATEDB, SCRAM-SHA-256 password)`,
      );
    } else {
      const options: string[] = [];
      if (!state.rolcanlogin) options.push('LOGIN');
      if (state.rolsuper) options.push('NOSUPERUSER');
      if (state.rolcreaterole) options.push('NOCREATEROLE');
      if (state.rolcreatedb) options.push('NOCREATEDB');
      if (options.length) {
        clusterStatements.push(
          sqlWithIdentifiers('create-role-alter', { role: quotedRole, options: options.join(' ') }),
        );
        clusterChanges.push(`role ${quotedRole}: set ${options.join(' ')}`);
      }
      let passwordState: Awaited<ReturnType<typeof currentPasswordState>>;
      try {
        passwordState = await currentPasswordState(backend, state, role, database, password);
      } catch (err) {
        throw pgFailure(err, `checking the current password of ${quotedRole}`);
      }
      if (passwordState !== 'valid') {
        clusterStatements.push(
          sqlWithIdentifiers('create-role-set-password', { role: quotedRole, verifier: verifierLiteral() }),
        );
        clusterChanges.push(
          `role ${quotedRole}: password set from ${passwordFile} (SCRAM-SHA-256${passwordState === 'unverifiable' ? '; the current one could not be checked' : ''})`,
        );
      }
    }
    let databaseOwned = state.database_owned;
    let roleCanConnect = state.role_can_connect;
    if (!state.database_exists) {
      // Text sorted by bytes, as SQLite's BINARY collation did (see the SQL files for why).
      const builtin = state.server_version_num >= 170000;
      const createDatabase = builtin
        ? 'create-role-create-database'
        : state.server_version_num >= 150000
          ? 'create-role-create-database-pg15'
          : 'create-role-create-database-pre15';
      clusterStatements.push(sqlWithIdentifiers(createDatabase, ident));
      clusterChanges.push(
        `created database ${ident.database} owned by ${quotedRole} (UTF8, ${builtin ? 'builtin collation C.UTF-8' : 'collation C'}: text sorts by bytes, as in SQLite)`,
      );
      if (!builtin && state.template_provider !== 'c' && /^(C|POSIX)$/i.test(state.template_ctype ?? '')) {
        warnings.push(
          `database ${ident.database} gets LC_CTYPE ${state.template_ctype} from template0 (the cluster's default provider is not libc): upper/lower and ILIKE fold ASCII letters only`,
        );
      }
      databaseOwned = true;
      roleCanConnect = true;
    } else {
      if (state.database_encoding !== 'UTF8')
        warnings.push(`database ${ident.database} has encoding ${state.database_encoding}, not UTF8`);
      if (!state.database_owned) {
        clusterStatements.push(sqlWithIdentifiers('create-role-database-owner', ident));
        clusterChanges.push(`database ${ident.database}: owner ${state.database_owner} → ${role}`);
        databaseOwned = true;
        roleCanConnect = true; // the owner's default privileges include CONNECT
      }
    }
    if (!roleCanConnect) {
      clusterStatements.push(sqlWithIdentifiers('create-role-grant-connect', ident));
      clusterChanges.push(`database ${ident.database}: GRANT CONNECT TO ${quotedRole}`);
    }
    changes.push(...clusterChanges);
    if (clusterChanges.length && !settings.dryRun) {
      try {
        await backend.run(clusterStatements);
      } catch (err) {
        throw pgFailure(err, `creating/updating role ${quotedRole} and database ${ident.database}`);
      }
    }

    // Inside the database: schema public belongs to (or at least is usable by) the role.
    const schemaChanges: string[] = [];
    const schemaStatements: string[] = [];
    if (settings.dryRun && !state.database_exists) {
      schemaChanges.push(`schema public in ${ident.database}: owned by ${quotedRole}`);
    } else {
      let schema: SchemaState;
      try {
        [schema] = await backend.rows<SchemaState>('create-role-schema-state', [role], database);
      } catch (err) {
        throw pgFailure(err, `reading schema public in database ${ident.database}`);
      }
      const ownedViaDatabase = schema.schema_owner === 'pg_database_owner' && databaseOwned;
      if (!schema.schema_exists) {
        schemaStatements.push(sqlWithIdentifiers('create-role-schema-create', ident));
        schemaChanges.push(`schema public created in ${ident.database}, owned by ${quotedRole}`);
      } else if (!schema.schema_owned && !ownedViaDatabase) {
        schemaStatements.push(sqlWithIdentifiers('create-role-schema-owner', ident));
        schemaChanges.push(`schema public in ${ident.database}: owner ${schema.schema_owner} → ${role}`);
      } else if (!schema.can_create || !schema.can_use) {
        schemaStatements.push(sqlWithIdentifiers('create-role-schema-grant', ident));
        schemaChanges.push(`schema public in ${ident.database}: GRANT CREATE, USAGE TO ${quotedRole}`);
      }
    }
    changes.push(...schemaChanges);
    if (schemaStatements.length && !settings.dryRun) {
      try {
        await backend.run(schemaStatements, database);
      } catch (err) {
        throw pgFailure(err, `configuring schema public in ${ident.database}`);
      }
    }

    // Last, so an administrator without superuser rights could still do the schema step above.
    if (state.public_can_connect || !state.database_exists) {
      changes.push(`database ${ident.database}: REVOKE CONNECT FROM PUBLIC`);
      if (!settings.dryRun) {
        try {
          await backend.run([sqlWithIdentifiers('create-role-revoke-public', ident)]);
        } catch (err) {
          throw pgFailure(err, `revoking CONNECT on ${ident.database} from PUBLIC`);
        }
      }
    }
  } finally {
    await backend.close();
  }

  for (const change of changes) log.info(`${settings.dryRun ? 'would: ' : ''}${change}`);
  for (const warning of warnings) log.warn(warning);
  const summary = changes.length
    ? `${settings.dryRun ? 'dry run: would make' : 'made'} ${changes.length} change${changes.length > 1 ? 's' : ''} for role ${role} and database ${database}; password in ${passwordFile}`
    : `role ${role} and database ${database} already as required: no changes`;
  return {
    ok: true,
    outcome: Outcome.Ok,
    summary,
    role,
    database,
    passwordFile,
    changes,
    via: backend.via,
    dryRun: settings.dryRun,
    warnings,
  };
}

/**
 * Is the role's stored password the one in our file? With superuser access the stored SCRAM verifier is checked
 * in Node; otherwise we try to log in as the role. 'unverifiable' leads to setting it again (reported as such).
 */
async function currentPasswordState(
  backend: AdminBackend,
  state: ClusterState,
  role: string,
  database: string,
  password: string,
): Promise<'valid' | 'invalid' | 'unverifiable'> {
  if (state.admin_is_superuser) {
    const [row] = await backend.rows<{ rolpassword: string | null }>('create-role-password', [role]);
    return scramVerifierMatches(row?.rolpassword, password) ? 'valid' : 'invalid';
  }
  if (!backend.tryLogin) return 'unverifiable';
  const outcome = await backend.tryLogin(role, password, state.database_exists ? database : 'postgres');
  return outcome === 'ok' ? 'valid' : outcome === 'wrong' ? 'invalid' : 'unverifiable';
}
