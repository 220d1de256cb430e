/** The tasks refuse Node 24 with one usage line (better-sqlite3 12 aborts there) and run on 20 and 22. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refuseUnsupportedNode } from '../../lib/cli/run-cli.ts';
import { DomainError, Outcome } from '../../lib/errors.ts';

test('Node 24 and later are refused as usage, naming the version and what to run instead', () => {
  for (const version of ['24.0.0', '24.21.0', '25.1.0']) {
    try {
      refuseUnsupportedNode(version);
      assert.unreachable(`${version} should be refused`);
    } catch (err) {
      assert.instance(err, DomainError);
      assert.is((err as DomainError).outcome, Outcome.Usage);
      assert.match(
        (err as DomainError).message,
        new RegExp(`Node ${version.replace(/\./g, '\\.')} is not supported.*Node 20 or 22`),
      );
    }
  }
});

test('Node 20 and 22 run', () => {
  for (const version of ['20.20.2', '22.23.3']) refuseUnsupportedNode(version);
});

test.run();
