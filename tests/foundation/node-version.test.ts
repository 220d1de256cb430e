/**
 * Which better-sqlite3 serves which Node (lib/sqlite/driver.ts), and the one usage line the tasks give when none can:
 * 12 aborts under Node 24 when V8 collects its objects, and 13 needs Node-API 10, which Node 20 lacks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refuseUnsupportedNode } from '../../lib/cli/run-cli.ts';
import { DomainError, Outcome } from '../../lib/errors.ts';
import { chooseDriver, driverProblem, type DriverPackage } from '../../lib/sqlite/driver.ts';

const both = (): boolean => true;
const onlyTwelve = (pkg: DriverPackage): boolean => pkg === 'better-sqlite3';

test('Node 22 and later load better-sqlite3 13; Node 20 keeps 12 even when 13 is installed', () => {
  assert.equal(chooseDriver('20.20.2', both), { pkg: 'better-sqlite3' });
  for (const version of ['22.23.3', '24.21.0', '25.1.0'])
    assert.equal(chooseDriver(version, both), { pkg: 'better-sqlite3-napi' });
});

test('Node 22 without 13 falls back to 12, which works there', () => {
  assert.equal(chooseDriver('22.23.3', onlyTwelve), { pkg: 'better-sqlite3' });
});

test('Node 24 without 13 is refused as usage, naming the version and how to install 13', () => {
  for (const version of ['24.0.0', '24.21.0', '25.1.0']) {
    const { problem } = chooseDriver(version, onlyTwelve);
    assert.ok(problem, `${version} should be refused`);
    try {
      refuseUnsupportedNode(problem);
      assert.unreachable(`${version} should be refused`);
    } catch (err) {
      assert.instance(err, DomainError);
      assert.is((err as DomainError).outcome, Outcome.Usage);
      assert.match(
        (err as DomainError).message,
        new RegExp(`Node ${version.replace(/\./g, '\\.')} needs better-sqlite3 13.*npm ci`),
      );
    }
  }
});

test('this process has a driver it can use', () => {
  assert.is(driverProblem, undefined);
  refuseUnsupportedNode();
});

test.run();
