import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { loadSettings } from '../cli/config.ts';
import { startEmbeddedServer, type EmbeddedServer } from '../pg/embedded-pg.ts';
import { Outcome, errorMessage, type OutcomeKind } from '../errors.ts';
import { waitForHealth, type HealthResult } from '../app/health-probe.ts';
import { runServiceCommand } from '../app/service-commands.ts';
import { createRole } from './create-role.ts';
import { upgrade, type UpgradeResult } from './upgrade.ts';
import { renderVerify } from './upgrade-steps.ts';
// The sample install lives in fixtures/ (it is the tests' install too); the demo is its one product-side user.
import { createSampleInstall } from '../../fixtures/sample-install.ts';

/**
 * `just demo`: the whole upgrade on a throw-away copy of the sample install, end to end, with nothing to set up:
 * a sample install with a few thousand rows in a temp folder, its fake backend running and writing to SQLite,
 * an embedded PostgreSQL, create-role (password in a 0600 file), `upgrade --yes` (online: copied while the backend
 * writes, then the window with its delta; the window is printed), the verify report, the backend
 * answering health from PostgreSQL — then everything stopped and removed (also on failure and Ctrl-C).
 */
export interface DemoOptions {
  rows?: number;
  keep?: boolean;
}

export interface DemoResult extends StepResult {
  appDir: string;
  upgrade?: Omit<UpgradeResult, 'verify'>;
  healthAfter?: HealthResult;
  rows: number;
  ms: number;
}

export async function demo(ctx: StepContext<DemoOptions>): Promise<DemoResult> {
  const { log } = ctx;
  const started = Date.now();
  const rows = ctx.extra.rows ?? 3000;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vs-demo-'));
  const appDir = path.join(tmp, 'app');
  let server: EmbeddedServer | undefined;
  let stopCmd: string | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (stopCmd) await runServiceCommand(stopCmd, log).catch(() => undefined);
    await server?.stop().catch(() => undefined);
    if (!ctx.extra.keep) rmSync(tmp, { recursive: true, force: true });
    else log.info(`kept ${tmp}`);
  };
  const onSignal = () => {
    log.warn('interrupted: cleaning up the demo');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log.info(`1/6 sample install with ~${rows} rows in ${appDir}`);
    // Started like upstream's systemd unit (EnvironmentFile, no prisma generate): the upgrade regenerates the client.
    const install = await createSampleInstall({ dir: appDir, rows, start: 'systemd' });
    const total = Object.values(install.rowCounts).reduce((a, b) => a + b, 0);
    // Settings from explicit arguments only: an empty environment, an empty config file (not the operator's
    // ./migration.env) and the install's own unit EnvironmentFile inside the temp dir — on a production host the demo must never touch
    // /etc/visionsuit/vs-backend.env.
    const emptyConfig = path.join(tmp, 'demo.env');
    writeFileSync(emptyConfig, '', { mode: 0o600 });
    const isolated = ['--config', emptyConfig, '--system-env', install.systemEnvFile!];
    const appSettings = loadSettings(['--app-dir', appDir, ...isolated], {}, {}).settings;
    stopCmd = appSettings.stopCmd;

    log.info('2/6 starting the fake backend (it writes to SQLite until it is stopped)');
    await runServiceCommand(appSettings.startCmd!, log, { cwd: appDir });
    const before = await waitForHealth(install.healthUrl, { timeoutMs: 30_000 });
    if (!before.ok) throw new Error(`the sample backend did not start: ${before.error}`);
    log.ok(`backend up on SQLite: ${install.healthUrl} → ${JSON.stringify(before.body)}`);

    log.info('3/6 starting an embedded PostgreSQL');
    server = await startEmbeddedServer();
    log.ok(`PostgreSQL on 127.0.0.1:${server.port}`);

    log.info('4/6 create-role: login role + database, password generated into a 0600 file');
    const passwordFile = path.join(tmp, 'pg-password');
    const target = `postgresql://visionsuit@127.0.0.1:${server.port}/visionsuit`;
    const roleSettings = loadSettings(
      ['--app-dir', appDir, '--password-file', passwordFile, ...isolated],
      {},
      { ADMIN_DATABASE_URL: server.url('postgres') },
    ).settings;
    const role = await createRole(roleSettings, log);
    if (!role.ok) throw new Error(role.summary);

    log.info(`5/6 just upgrade --target ${target} --password-file ${passwordFile} --yes`);
    const settings = loadSettings(
      ['--app-dir', appDir, '--target', target, '--password-file', passwordFile, '--yes', ...isolated],
      {},
      {},
    ).settings;
    const result = await upgrade({ settings, log, extra: { waitSeconds: 30 }, positionals: [] });
    if (result.verify) log.info(renderVerify(result.verify));
    for (const s of result.steps)
      log.info(
        `  ${s.status.padEnd(7)} ${s.name.padEnd(20)} ${(s.ms / 1000).toFixed(1)} s${s.message ? `  ${s.message}` : ''}`,
      );
    for (const r of result.rounds ?? [])
      log.info(
        `catch-up round ${r.round} (app still running): ${r.rows.total} row(s) the backend wrote during phase 1, applied and verified`,
      );
    if (result.delta)
      log.info(
        `delta carried in the window: ${result.delta.rows.inserts} insert(s), ${result.delta.rows.updates} update(s), ${result.delta.rows.deletes} delete(s) the backend wrote ${result.rounds?.length ? 'since the last catch-up round' : 'while phase 1 ran'}`,
      );
    if (result.window)
      log.ok(
        `window: the app was down ${result.window.seconds.toFixed(1)} s (stop command → healthy on PostgreSQL: ${result.window.parts.map((p) => `${p.step} ${p.seconds.toFixed(1)}`).join(', ')})`,
      );

    let healthAfter: HealthResult | undefined;
    if (result.ok) {
      log.info('6/6 the backend after the upgrade');
      // The app's own status route: "online" once its queries on PostgreSQL work (the upgrade proved the sessions).
      healthAfter = await waitForHealth(install.healthUrl, { timeoutMs: 15_000 });
      (healthAfter.ok ? log.ok : log.error)(
        `${install.healthUrl} → ${JSON.stringify(healthAfter.body ?? healthAfter.error)}`,
      );
    }
    const ok = result.ok && Boolean(healthAfter?.ok);
    const { verify: _verify, ...upgradeSummary } = result;
    void _verify;
    return {
      ok,
      outcome: (ok ? Outcome.Ok : result.ok ? Outcome.VerificationFailed : result.outcome) as OutcomeKind,
      appDir,
      upgrade: upgradeSummary,
      healthAfter,
      rows: total,
      ms: Date.now() - started,
      summary: ok
        ? `demo: ${total} rows moved from SQLite to PostgreSQL while the backend kept writing, then a ${result.window?.seconds.toFixed(1) ?? '?'} s window; it now answers from PostgreSQL (${((Date.now() - started) / 1000).toFixed(1)} s)`
        : `demo failed: ${result.summary}`,
    };
  } catch (err) {
    log.error(`demo failed: ${errorMessage(err)}`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
