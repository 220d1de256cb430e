import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WindowRate, bar, fmtEta, fmtShort, progressLine } from '../../lib/run/progress.ts';

test('the line fits the terminal, whole-load bar first, per-table parts only as far as they fit', () => {
  const parts = [
    'ImageModerationEvent 412k/600k 48k/s',
    'GalleryImageAssociation 120k/300k 31k/s',
    'Tag 1.2k/2.0k 900/s',
  ];
  for (const columns of [80, 60, 120, 200]) {
    const line = progressLine({
      label: 'load',
      done: 632_000,
      total: 1_500_000,
      ratePerSecond: 79_000,
      parts,
      columns,
    });
    assert.ok(line.length <= columns - 1, `${columns}: ${line.length} ${line}`);
    assert.ok(line.startsWith('load [########------------]  42% 632k/1.5M 79k/s ETA 0:11'), line);
    assert.not.match(line, /\|\s*$/);
  }
  const wide = progressLine({
    label: 'load',
    done: 632_000,
    total: 1_500_000,
    ratePerSecond: 79_000,
    parts,
    columns: 200,
  });
  assert.ok(wide.endsWith('| Tag 1.2k/2.0k 900/s'), wide);
  const narrow = progressLine({
    label: 'load',
    done: 632_000,
    total: 1_500_000,
    ratePerSecond: 79_000,
    parts,
    columns: 100,
  });
  assert.ok(narrow.includes('| ImageModerationEvent 412k/600k 48k/s') && !narrow.includes('Gallery'), narrow);
});

test('rates are over the recent window: a stalled counter shows a falling rate, not the average since start', () => {
  const rate = new WindowRate(5000);
  for (let t = 0; t <= 10_000; t += 1000) rate.add(t, t * 10); // 10,000 rows/s for 10 s
  assert.ok(Math.abs(rate.perSecond(10_000) - 10_000) < 1, String(rate.perSecond(10_000)));
  for (let t = 11_000; t <= 20_000; t += 1000) rate.add(t, 100_000); // then nothing moves
  assert.is(rate.perSecond(20_000), 0);
  assert.is(new WindowRate().perSecond(5), 0);
});

test('formatting helpers', () => {
  assert.is(bar(0.5, 10), '[#####-----]');
  assert.is(bar(2, 4), '[####]');
  assert.is(fmtShort(999), '999');
  assert.is(fmtShort(1234), '1.2k');
  assert.is(fmtShort(2_500_000), '2.5M');
  assert.is(fmtEta(61), '1:01');
  assert.is(fmtEta(Infinity), '--:--');
});

test.run();
