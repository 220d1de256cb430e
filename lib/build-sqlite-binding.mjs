#!/usr/bin/env node
// Build better-sqlite3's native binding with V8's one-call object builders (package.json's postinstall):
//
//   npm run build:sqlite-binding [-- --force]
//
// Why: reading every row is most of load-pg's, export-sqlite's and verify's client CPU, and on Node 20 better-sqlite3
// 12 pays V8's slowest path twice per row:
// - a `.raw()` row is an empty array grown by one v8::Object::Set per cell. On Node >= 22 the package hands V8 the
//   cells at once (v8::Array::New with the values), an API Node 20's V8 has too; upstream ties it to
//   v8::LocalVector, which Node 20 lacks. Upstream's next major (13) has it everywhere but needs Node 22.
// - the iterator's `{ value, done }` record is an empty object given its two properties by two Object::Set calls;
//   v8::Object::New with the names and values makes it in one.
// Measured on the 1.5 M-row bench: a scan of every row 2.2 -> 1.45 CPU-s with the first, reading and encoding every
// row 2.91 -> 2.64 CPU-s more with the second; load-pg ≈ 1 s faster (bench/README.md).
//
// What it does: replaces those two function bodies (src/util/data.cpp, src/objects/statement-iterator.hpp), runs
// the package's own build command (`node-gyp rebuild --release`, the one its install script falls back to), and
// records what it built in build/Release/visionsuit-row-builder.json. package.json's allowScripts leaves
// better-sqlite3's own install script off, so npm ci compiles SQLite once, here, not twice. Nothing changes at run
// time: better-sqlite3 loads the binary it always loads; rows and records hold the same values.
//
// When a text to replace is not there (another better-sqlite3 version), the stock sources are built and the record
// says `patched: false` (tests/foundation/sqlite-binding.test.ts then fails: the patch needs a look).
// When no compiler is there, the stock prebuilt binary is downloaded (prebuild-install, the package's own first
// choice); when that fails too, install fails with one line saying what to install.
//
// Plain JavaScript: it runs during npm ci, before anything could compile TypeScript for it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(REPO_ROOT, 'package.json'));
const packageDir = path.dirname(require.resolve('better-sqlite3/package.json'));
const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
const binaryFile = path.join(packageDir, 'build', 'Release', 'better_sqlite3.node');
const recordFile = path.join(packageDir, 'build', 'Release', 'visionsuit-row-builder.json');
const force = process.argv.includes('--force');

/** Each change: the file, the stock text of better-sqlite3 12.x (tabs as in the file), the text put in its place. */
const PATCHES = [
  {
    // Data::GetRawRowJS for Node < 22.
    file: path.join(packageDir, 'src', 'util', 'data.cpp'),
    stock: [
      '\t\tv8::Local<v8::Array> row = v8::Array::New(isolate);',
      '\t\tint column_count = sqlite3_column_count(handle);',
      '\t\tfor (int i = 0; i < column_count; ++i) {',
      '\t\t\trow->Set(ctx, i, Data::GetValueJS(isolate, handle, i, safe_ints)).FromJust();',
      '\t\t}',
      '\t\treturn row;',
    ].join('\n'),
    fast: [
      '\t\t// visionsuit-pg-migrate: the cells handed to V8 at once, as this file does for Node >= 22 (see lib/build-sqlite-binding.mjs).',
      '\t\tint column_count = sqlite3_column_count(handle);',
      '\t\tstd::vector<v8::Local<v8::Value>> values;',
      '\t\tvalues.reserve(column_count);',
      '\t\tfor (int i = 0; i < column_count; ++i) {',
      '\t\t\tvalues.push_back(Data::GetValueJS(isolate, handle, i, safe_ints));',
      '\t\t}',
      '\t\treturn v8::Array::New(isolate, values.data(), values.size());',
    ].join('\n'),
  },
  {
    // StatementIterator::NewRecord, the `{ value, done }` object of every iterate() step.
    file: path.join(packageDir, 'src', 'objects', 'statement-iterator.hpp'),
    stock: [
      '\t\tv8::Local<v8::Object> record = v8::Object::New(isolate);',
      '\t\trecord->Set(ctx, addon->cs.value.Get(isolate), value).FromJust();',
      '\t\trecord->Set(ctx, addon->cs.done.Get(isolate), v8::Boolean::New(isolate, done)).FromJust();',
      '\t\treturn record;',
    ].join('\n'),
    fast: [
      '\t\t// visionsuit-pg-migrate: the record made in one call (see lib/build-sqlite-binding.mjs).',
      '\t\tv8::Local<v8::Name> names[2] = { addon->cs.value.Get(isolate), addon->cs.done.Get(isolate) };',
      '\t\tv8::Local<v8::Value> values[2] = { value, v8::Boolean::New(isolate, done) };',
      '\t\treturn v8::Object::New(isolate, v8::Object::New(isolate)->GetPrototype(), names, values, 2);',
    ].join('\n'),
  },
];

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
/** One digest over every patched source file, in PATCHES order. */
const sourcesSha256 = () => createHash('sha256').update(PATCHES.map((p) => sha256(p.file)).join('\n')).digest('hex');
const say = (line) => process.stderr.write(`build-sqlite-binding: ${line}\n`);

function upToDate() {
  if (!existsSync(recordFile) || !existsSync(binaryFile)) return false;
  try {
    const record = JSON.parse(readFileSync(recordFile, 'utf8'));
    return (
      record.patched === true &&
      record.betterSqlite3 === version &&
      record.nodeModuleVersion === process.versions.modules &&
      record.sourceSha256 === sourcesSha256() &&
      record.binarySha256 === sha256(binaryFile)
    );
  } catch {
    return false; // an unreadable record is rebuilt like a missing one
  }
}

/** npm's own node-gyp: npm names it in the lifecycle environment; outside npm, the copy npm ships; else PATH. */
function nodeGypCommand() {
  const candidates = [process.env.npm_config_node_gyp, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  const script = candidates.find((file) => file && existsSync(file));
  return script ? [process.execPath, [script]] : ['node-gyp', []];
}

/** Runs a build command in the package folder; its output (compiler warnings, gyp info) is shown only if it fails. */
function run(command, args) {
  const result = spawnSync(command, args, { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status === 0) return undefined;
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-40).join('\n') + '\n');
  return result.error?.message ?? `exit ${result.status ?? result.signal}`;
}

if (!force && upToDate()) {
  say(`better-sqlite3 ${version}: binding up to date (one-call row and record builders)`);
  process.exit(0);
}

const stockSources = PATCHES.map((p) => readFileSync(p.file, 'utf8'));
const patched = PATCHES.every((p, i) => stockSources[i].includes(p.stock) || stockSources[i].includes(p.fast));
if (patched) PATCHES.forEach((p, i) => stockSources[i].includes(p.stock) && writeFileSync(p.file, stockSources[i].replace(p.stock, p.fast)));
else say(`better-sqlite3 ${version}: the Node 20 row and record builders are not where 12.x has them; building the stock sources (slower reads)`);
/** The stock sources back in place (before falling back to the stock prebuilt binary). */
const restoreStockSources = () => PATCHES.forEach((p, i) => writeFileSync(p.file, stockSources[i].replace(p.fast, p.stock)));

say(`better-sqlite3 ${version}: compiling SQLite and the binding (about a minute)…`);
rmSync(recordFile, { force: true }); // a failed build must not leave a record that vouches for the old binary
const [gyp, gypArgs] = nodeGypCommand();
const buildStarted = performance.now();
const buildFailure = run(gyp, [...gypArgs, 'rebuild', '--release']);
if (!buildFailure) {
  writeFileSync(
    recordFile,
    JSON.stringify({ patched, betterSqlite3: version, nodeModuleVersion: process.versions.modules, sourceSha256: sourcesSha256(), binarySha256: sha256(binaryFile), builtAt: new Date().toISOString() }, null, 2) + '\n',
  );
  say(`better-sqlite3 ${version}: binding compiled${patched ? ' with the one-call row and record builders' : ''} (${((performance.now() - buildStarted) / 1000).toFixed(0)} s)`);
  process.exit(0);
}

// No compiler (or node headers): put the sources back and take the package's own first choice, a prebuilt binary.
restoreStockSources();
const prebuildInstall = path.join(path.dirname(createRequire(path.join(packageDir, 'package.json')).resolve('prebuild-install/package.json')), 'bin.js');
const downloadFailure = run(process.execPath, [prebuildInstall]);
if (!downloadFailure) {
  say(`better-sqlite3 ${version}: could not compile (${buildFailure}); using the stock prebuilt binary (reads ≈ 1.5× slower)`);
  process.exit(0);
}
say(`better-sqlite3 ${version} has no binary: compiling failed (${buildFailure}) and the prebuilt download failed (${downloadFailure}); install python3, make and g++, then run \`npm run build:sqlite-binding\``);
process.exit(1);
