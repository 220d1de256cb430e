import { existsSync, statSync } from 'node:fs';
import Database from '../sqlite/driver.ts';
import pg from 'pg';
import path from 'node:path';
import { assertAppInstall, resolveSqlitePath, type Settings } from '../cli/config.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { Outcome, DomainError, errorMessage, usageError } from '../errors.ts';
import type { HealthResult } from '../app/health-probe.ts';
import type { Logger } from '../cli/log.ts';
import { applyPostgresSchema } from '../pg/schema-apply.ts';
import { targetSchemaFromUrl } from '../pg/schema-objects.ts';
import { displayUrl, openTarget } from '../pg/target.ts';
import { acquireLock, claimThisRunDir } from '../run/run-lock.ts';
import { createRunDir, recordStep, RUN_FILES } from '../run/run-dir.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { TLS_URL_PARAMS } from '../pg/tls-policy.ts';
import { createRole, defaultPasswordFile } from './create-role.ts';
import { runServiceCommand } from '../app/service-commands.ts';
import { appDatabaseKind, startFailure, startServices } from './maintenance.ts';
import { generateAppClient } from '../app/prisma-generate.ts';
import { rollback } from './rollback.ts';
import { switchEnv } from './switch-env.ts';
import { runCheckTarget } from './upgrade-steps.ts';

/**
 * fresh-install: a new VisionSuit install straight onto PostgreSQL, no SQLite data.
 *   (create-role when --admin-url) → check-target → Prisma schema + migration history applied on PostgreSQL
 *   (the same engine path load-pg uses, written into a run dir) → switch-env → start the app → health.
 * Without --target but with --admin-url the app's DSN is built from the admin URL's host and port, --role,
 * --database and the password file create-role wrote. A failure after switch-env restores the previous files.
 */
export interface FreshInstallOptions {
  waitSeconds?: number;
  noGenerate?: boolean;
  healthUrl?: string;
}

export interface FreshInstallResult extends StepResult {
  runDir: string;
  target: string;
  migrations: string[];
  roleChanges?: string[];
  health?: HealthResult;
}

function deriveTarget(settings: Settings): Settings {
  if (settings.targetUrl) return settings;
  if (!settings.adminUrl) throw usageError('--target is required (or --admin-url, from which the app DSN is derived)');
  const admin = new URL(settings.adminUrl);
  const url = new URL(`postgresql://${admin.host}/`);
  url.username = encodeURIComponent(settings.role);
  url.pathname = `/${encodeURIComponent(settings.database)}`;
  // The app's DSN is protected as the admin's is: every TLS parameter carries over, not sslmode alone.
  for (const [k, v] of admin.searchParams)
    if ((TLS_URL_PARAMS as readonly string[]).includes(k)) url.searchParams.set(k, v);
  return {
    ...settings,
    targetUrl: url.toString(),
    passwordFile: settings.passwordFile ?? defaultPasswordFile(settings),
  };
}

/** An install whose SQLite file holds rows needs `upgrade` (which moves them), not a fresh install over them. */
function refuseExistingData(settings: Settings): void {
  if (settings.force) return;
  const file = resolveSqlitePath(settings);
  if (!file || !existsSync(file) || statSync(file).size === 0) return;
  let tableWithRows: string | undefined;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (const { name } of db.prepare(loadSql('upgrade-sqlite-tables')).all() as { name: string }[]) {
        if (name === '_prisma_migrations') continue;
        const row = db
          .prepare(sqlWithIdentifiers('fresh-install-sqlite-has-rows', { table: pg.escapeIdentifier(name) }))
          .get() as { has_rows: number };
        if (row.has_rows) {
          tableWithRows = name;
          break;
        }
      }
    } finally {
      db.close();
    }
  } catch {
    return; // not a readable SQLite file: nothing fresh-install could lose
  }
  if (tableWithRows) {
    throw usageError(
      `${file} holds data (table ${tableWithRows} has rows): use \`just upgrade\` to move it, or --force to install empty anyway`,
    );
  }
}

export async function freshInstall(
  settings0: Settings,
  log: Logger,
  options: FreshInstallOptions = {},
): Promise<FreshInstallResult> {
  if (appDatabaseKind(settings0) === 'postgresql' && !settings0.force) {
    throw usageError(
      `${path.join(settings0.appDir, 'backend/.env')} already points at PostgreSQL; pass --force to install again`,
    );
  }
  refuseExistingData(settings0);
  let roleChanges: string[] | undefined;
  let settings = settings0;
  if (settings.adminUrl) {
    const role = await createRole(
      settings.passwordFile ? settings : { ...settings, passwordFile: defaultPasswordFile(settings) },
      log,
    );
    if (!role.ok) throw new DomainError(role.outcome, role.summary);
    roleChanges = role.changes;
    settings = { ...settings, passwordFile: settings.passwordFile ?? role.passwordFile };
  }
  settings = deriveTarget(settings);
  assertAppInstall(settings);
  const lock = acquireLock(settings, `fresh-install --target ${displayUrl(settings.targetUrl!)}`);
  try {
    const runDir = createRunDir(settings);
    claimThisRunDir(settings, runDir, 'fresh-install');
    log.attachFile(path.join(runDir, RUN_FILES.log));
    const s: Settings = { ...settings, runDir };
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      recordStep(runDir, s.appDir, name, { status: 'running' });
      try {
        const v = await fn();
        recordStep(runDir, s.appDir, name, { status: 'done' });
        return v;
      } catch (err) {
        recordStep(runDir, s.appDir, name, { status: 'failed', message: errorMessage(err) });
        throw err;
      }
    };
    await step('check-target', async () => {
      const r = await runCheckTarget(s, log);
      if (!r.ok) throw new DomainError(r.outcome, r.summary);
    });
    const applied = await step('apply-schema', async () => {
      const target = await openTarget(s, log);
      try {
        return await applyPostgresSchema({
          settings: s,
          runDir,
          clientConfig: target.clientConfig,
          schema: targetSchemaFromUrl(s.targetUrl),
          log,
        });
      } finally {
        await target.close();
      }
    });
    log.ok(`schema applied: ${applied.migrations.join(', ') || '(no migrations)'}`);
    let switched = false;
    try {
      if (s.stopCmd && existsSync(path.join(s.appDir, 'backend/.env')))
        await runServiceCommand(s.stopCmd, log, { cwd: s.appDir });
      await step('switch-env', async () => switchEnv(s, log, { runDir }));
      switched = true;
      // The app's generated client must be postgresql's before it starts (lib/app/prisma-generate.ts).
      const generate = await generateAppClient(s.appDir, 'postgresql', log, { skip: options.noGenerate });
      if (!generate.ok)
        throw new DomainError(
          Outcome.TargetNotReady,
          `the app's Prisma Client was not regenerated: ${generate.detail}`,
        );
      const started = await step('start-services', async () =>
        startServices(s, log, { ...options, expectDatabase: 'postgresql' }),
      );
      const notRight = startFailure(started);
      if (notRight) throw new DomainError(Outcome.TargetNotReady, `app did not come up on PostgreSQL: ${notRight}`);
      return {
        ok: true,
        outcome: Outcome.Ok,
        runDir,
        target: displayUrl(s.targetUrl!),
        migrations: applied.migrations,
        roleChanges,
        health: started.health,
        summary: `fresh install on PostgreSQL ${displayUrl(s.targetUrl!)}${started.healthChecked ? ': app healthy' : ' (health not checked)'}`,
      };
    } catch (err) {
      if (!switched) throw err;
      log.warn(`fresh-install failed after switch-env (${errorMessage(err)}); restoring the previous configuration`);
      await rollback(s, log, {
        runDir,
        waitSeconds: options.waitSeconds,
        healthUrl: options.healthUrl,
        noGenerate: options.noGenerate,
      });
      throw new DomainError(
        Outcome.RolledBack,
        `fresh-install failed and the previous configuration was restored: ${errorMessage(err)}`,
      );
    }
  } finally {
    lock.release();
  }
}

export function runFreshInstall(ctx: StepContext<FreshInstallOptions>): Promise<FreshInstallResult> {
  return freshInstall(ctx.settings, ctx.log, ctx.extra);
}
