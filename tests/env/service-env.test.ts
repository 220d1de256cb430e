/**
 * The environment of the app's own commands (lib/app/service-commands.ts serviceEnv) and the one-process tasks'
 * allocator setting (lib/files/code-location.ts): the justfile runs upgrade, fallback and demo with
 * MALLOC_ARENA_MAX=2 and the operator's own value saved beside it; the app's commands get that value back (or none),
 * never ours, and never a secret.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { serviceEnv } from '../../lib/app/service-commands.ts';
import { ONE_PROCESS_TASK_FLAGS, OPERATOR_MALLOC_ARENA_MAX, oneProcessTaskEnv } from '../../lib/files/code-location.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

test("the app's commands get the operator's MALLOC_ARENA_MAX back, or none when they had none", () => {
  const ours = { PATH: '/bin', ...oneProcessTaskEnv({}) };
  assert.equal(serviceEnv(ours), { PATH: '/bin' });
  const theirs = { PATH: '/bin', ...oneProcessTaskEnv({ MALLOC_ARENA_MAX: '8' }) };
  assert.equal(serviceEnv(theirs), { PATH: '/bin', MALLOC_ARENA_MAX: '8' });
  // Started without the justfile (node tasks/upgrade.ts): whatever the operator set passes through.
  assert.equal(serviceEnv({ PATH: '/bin', MALLOC_ARENA_MAX: '4' }), { PATH: '/bin', MALLOC_ARENA_MAX: '4' });
  assert.equal(serviceEnv({ PATH: '/bin', TARGET_DATABASE_URL: 'postgresql://u:p@h/d', PGPASSWORD: 'p' }), {
    PATH: '/bin',
  });
});

test("the justfile's one-process recipes run with the flags and the allocator setting of code-location.ts", () => {
  const justfile = readFileSync(path.join(REPO_ROOT, 'justfile'), 'utf8');
  for (const task of ['upgrade', 'fallback', 'demo']) {
    const recipe = justfile.split('\n').find((l) => l.includes(`/${task}.ts"`))!;
    assert.ok(recipe, task);
    assert.ok(recipe.includes(`${OPERATOR_MALLOC_ARENA_MAX}="\${MALLOC_ARENA_MAX-}"`), recipe);
    assert.ok(recipe.includes(`MALLOC_ARENA_MAX=${oneProcessTaskEnv({}).MALLOC_ARENA_MAX} node`), recipe);
    assert.ok(recipe.includes(`node ${ONE_PROCESS_TASK_FLAGS.join(' ')} --import tsx`), recipe);
  }
});

test.run();
