#!/usr/bin/env node
// Build better-sqlite3's native binding with its row builder for Node >= 22 (package.json's postinstall):
//
//   npm run build:sqlite-binding [-- --force]
//
// Why: better-sqlite3 12 builds each row of a `.raw()` read on Node < 22 as an empty array grown by one
// v8::Object::Set per cell — V8's generic, slowest way to fill an array. On Node >= 22 it hands V8 the cells at
// once (v8::Array::New with the values). That second way exists in Node 20's V8 as well; upstream only ties it
// to v8::LocalVector, which Node 20 lacks. Reading every row is most of load-pg's, export-sqlite's and verify's
// client CPU: on the 1.5 M-row bench the same scan takes 1.45 instead of 2.2 CPU-s, and load-pg 1.0-1.3 CPU-s and
// 0.4-1.1 s less (bench/README.md). Upstream's next major (13) has the fast builder everywhere but needs Node 22.
//
// What it does: replaces that one function body in src/util/data.cpp with the Node >= 22 one (a std::vector
// instead of v8::LocalVector), runs the package's own build command (`node-gyp rebuild --release`, the one its
// install script falls back to), and records what it built in build/Release/visionsuit-row-builder.json.
// package.json's allowScripts leaves better-sqlite3's own install script off, so npm ci compiles SQLite once,
// here, not twice. Nothing changes at run time: better-sqlite3 loads the binary it always loads.
//
// When the text to replace is not there (another better-sqlite3 version), the stock sources are built and the
// record says `patched: false` (tests/foundation/sqlite-binding.test.ts then fails: the patch needs a look).
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
const sourceFile = path.join(packageDir, 'src', 'util', 'data.cpp');
const binaryFile = path.join(packageDir, 'build', 'Release', 'better_sqlite3.node');
const recordFile = path.join(packageDir, 'build', 'Release', 'visionsuit-row-builder.json');
const force = process.argv.includes('--force');

// better-sqlite3 12.x, src/util/data.cpp, the Node < 22 GetRawRowJS body (tabs as in the file).
const STOCK_ROW_BUILDER = [
  '\t\tv8::Local<v8::Array> row = v8::Array::New(isolate);',
  '\t\tint column_count = sqlite3_column_count(handle);',
  '\t\tfor (int i = 0; i < column_count; ++i) {',
  '\t\t\trow->Set(ctx, i, Data::GetValueJS(isolate, handle, i, safe_ints)).FromJust();',
  '\t\t}',
  '\t\treturn row;',
].join('\n');
const FAST_ROW_BUILDER = [
  '\t\t// visionsuit-pg-migrate: the cells handed to V8 at once, as this file does for Node >= 22 (see lib/build-sqlite-binding.mjs).',
  '\t\tint column_count = sqlite3_column_count(handle);',
  '\t\tstd::vector<v8::Local<v8::Value>> values;',
  '\t\tvalues.reserve(column_count);',
  '\t\tfor (int i = 0; i < column_count; ++i) {',
  '\t\t\tvalues.push_back(Data::GetValueJS(isolate, handle, i, safe_ints));',
  '\t\t}',
  '\t\treturn v8::Array::New(isolate, values.data(), values.size());',
].join('\n');

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const say = (line) => process.stderr.write(`build-sqlite-binding: ${line}\n`);

function upToDate() {
  if (!existsSync(recordFile) || !existsSync(binaryFile)) return false;
  try {
    const record = JSON.parse(readFileSync(recordFile, 'utf8'));
    return (
      record.patched === true &&
      record.betterSqlite3 === version &&
      record.nodeModuleVersion === process.versions.modules &&
      record.sourceSha256 === sha256(sourceFile) &&
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
  say(`better-sqlite3 ${version}: binding up to date (fast row builder)`);
  process.exit(0);
}

const stockSource = readFileSync(sourceFile, 'utf8');
const patched = stockSource.includes(STOCK_ROW_BUILDER) || stockSource.includes(FAST_ROW_BUILDER);
if (stockSource.includes(STOCK_ROW_BUILDER)) writeFileSync(sourceFile, stockSource.replace(STOCK_ROW_BUILDER, FAST_ROW_BUILDER));
if (!patched) say(`better-sqlite3 ${version}: the Node < 22 row builder is not where 12.x has it; building the stock sources (slower reads)`);

say(`better-sqlite3 ${version}: compiling SQLite and the binding (about a minute)…`);
rmSync(recordFile, { force: true }); // a failed build must not leave a record that vouches for the old binary
const [gyp, gypArgs] = nodeGypCommand();
const buildStarted = performance.now();
const buildFailure = run(gyp, [...gypArgs, 'rebuild', '--release']);
if (!buildFailure) {
  writeFileSync(
    recordFile,
    JSON.stringify({ patched, betterSqlite3: version, nodeModuleVersion: process.versions.modules, sourceSha256: sha256(sourceFile), binarySha256: sha256(binaryFile), builtAt: new Date().toISOString() }, null, 2) + '\n',
  );
  say(`better-sqlite3 ${version}: binding compiled${patched ? ' with the fast row builder' : ''} (${((performance.now() - buildStarted) / 1000).toFixed(0)} s)`);
  process.exit(0);
}

// No compiler (or node headers): put the sources back and take the package's own first choice, a prebuilt binary.
writeFileSync(sourceFile, stockSource.includes(FAST_ROW_BUILDER) ? stockSource.replace(FAST_ROW_BUILDER, STOCK_ROW_BUILDER) : stockSource);
const prebuildInstall = path.join(path.dirname(createRequire(path.join(packageDir, 'package.json')).resolve('prebuild-install/package.json')), 'bin.js');
const downloadFailure = run(process.execPath, [prebuildInstall]);
if (!downloadFailure) {
  say(`better-sqlite3 ${version}: could not compile (${buildFailure}); using the stock prebuilt binary (reads ≈ 1.5× slower)`);
  process.exit(0);
}
say(`better-sqlite3 ${version} has no binary: compiling failed (${buildFailure}) and the prebuilt download failed (${downloadFailure}); install python3, make and g++, then run \`npm run build:sqlite-binding\``);
process.exit(1);
