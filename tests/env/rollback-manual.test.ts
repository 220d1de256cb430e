/**
 * rollback that cannot finish (its backup is gone) → exit 6 with the exact manual steps, real paths included.
 * No PostgreSQL and no writer needed: the journal and env file are set up the way a switched install looks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { runTask } from '../helpers/cli.ts';
import { createSampleInstall } from '../../fixtures/sample-install.ts';

test('rollback with a missing backup exits 6 and prints cp commands and the start command', async () => {
  const install = await createSampleInstall({ rows: 5 });
  try {
    const runDir = path.join(install.appDir, 'backups/pg-migration/20200101T000000Z');
    mkdirSync(runDir, { recursive: true });
    const original = readFileSync(install.envPath, 'utf8');
    const switched = original.replace(
      'DATABASE_URL="file:./dev.db"',
      'DATABASE_URL="postgresql://visionsuit:pw@127.0.0.1:1/visionsuit"',
    );
    writeFileSync(install.envPath, switched);
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    const backup = path.join(runDir, 'env-backups', 'backend__.env.20200101T000000Z');
    writeFileSync(
      path.join(runDir, 'journal.json'),
      JSON.stringify({
        version: 1,
        createdAt: 'x',
        updatedAt: 'x',
        appDir: install.appDir,
        steps: {},
        state: {
          switchEnv: {
            files: [
              {
                path: install.envPath,
                kind: 'env',
                backup,
                existed: true,
                sha256Before: sha(original),
                sha256After: sha(switched),
                mode: 0o600,
              },
            ],
          },
        },
      }),
    );
    const run = await runTask('rollback', ['--app-dir', install.appDir, '--json']);
    assert.is(run.code, 6, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `cp -p ${backup.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} ${install.envPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`,
      ),
    );
    assert.match(run.stderr, /maintenance\.sh start/);
    assert.ok(run.json!.details.manualSteps.length >= 3);
    assert.not.match(run.stdout + run.stderr, /:pw@/, 'password masked');
  } finally {
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test.run();
