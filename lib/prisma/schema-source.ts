import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { usageError } from '../errors.ts';
import { findBlocks } from './schema-file.ts';

/**
 * The one reader of the app's Prisma schema for every task: a single file, or a folder of .prisma files (Prisma 6's
 * `prismaSchemaFolder`, GA since 6.7 and the norm in Prisma 7: https://www.prisma.io/docs/orm/prisma-schema/overview/location
 * "Multi-file Prisma schema"), and where its SQLite database is, resolved the way Prisma resolves it.
 */
export interface SchemaFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the schema folder (the file name for a single-file schema). */
  name: string;
  text: string;
}

export type DatasourceUrl =
  | { kind: 'env'; variable: string }
  | { kind: 'literal'; value: string }
  /** Prisma 7 form: no url in the schema, the connection comes from prisma.config.ts. */
  | { kind: 'none' };

export interface SchemaSource {
  /** What the operator gave (file or folder), absolute. */
  path: string;
  isFolder: boolean;
  files: SchemaFile[];
  /** The file holding the `datasource` block (undefined when no file has one). */
  datasourceFile?: SchemaFile;
  provider?: string;
  url: DatasourceUrl;
}

const PROPERTY = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*(\/\/.*)?$/;

function datasourceProperties(text: string): Record<string, string> {
  const block = findBlocks(text).find((b) => b.kind === 'datasource');
  if (!block) return {};
  const props: Record<string, string> = {};
  for (const line of text.slice(block.open + 1, block.end - 1).split('\n')) {
    const m = PROPERTY.exec(line);
    if (m) props[m[1]] = m[2];
  }
  return props;
}

function urlOf(raw: string | undefined): DatasourceUrl {
  if (raw === undefined) return { kind: 'none' };
  const env = /^env\(\s*"([^"]+)"\s*\)$/.exec(raw);
  if (env) return { kind: 'env', variable: env[1] };
  const literal = /^"(.*)"$/.exec(raw);
  if (literal) return { kind: 'literal', value: literal[1] };
  throw usageError(`the datasource url \`${raw}\` is neither env("NAME") nor a "string"`);
}

/** Read the schema file or folder (every .prisma file below it, sorted, as Prisma reads a folder). */
export function readSchemaSource(schemaPath: string): SchemaSource {
  const abs = path.resolve(schemaPath);
  if (!existsSync(abs)) throw usageError(`Prisma schema ${abs} does not exist (set --schema or --app-dir)`);
  const isFolder = statSync(abs).isDirectory();
  let files: SchemaFile[];
  if (isFolder) {
    const names = readdirSync(abs, { recursive: true, encoding: 'utf8' })
      .filter((n) => n.endsWith('.prisma'))
      .sort();
    if (!names.length) throw usageError(`Prisma schema folder ${abs} holds no .prisma file`);
    files = names.map((name) => ({
      path: path.join(abs, name),
      name,
      text: readFileSync(path.join(abs, name), 'utf8'),
    }));
  } else {
    files = [{ path: abs, name: path.basename(abs), text: readFileSync(abs, 'utf8') }];
  }
  const withDatasource = files.filter((f) => findBlocks(f.text).some((b) => b.kind === 'datasource'));
  if (withDatasource.length > 1)
    throw usageError(
      `Prisma schema ${abs}: more than one datasource block (${withDatasource.map((f) => f.name).join(', ')})`,
    );
  const datasourceFile = withDatasource[0];
  const props = datasourceFile ? datasourceProperties(datasourceFile.text) : {};
  const provider =
    props.provider === undefined ? undefined : (/^"([^"]*)"$/.exec(props.provider)?.[1] ?? props.provider);
  return { path: abs, isFolder, files, datasourceFile, provider, url: urlOf(props.url) };
}

/**
 * The schema as one text (files in Prisma's order, each headed by its name as a comment): the form the schema engine
 * and the PostgreSQL schema in the run dir use. Blocks do not depend on their file, so the data model is the same.
 */
export function mergedSchemaText(source: SchemaSource): string {
  if (!source.isFolder) return source.files[0].text;
  return source.files.map((f) => `// ---- ${f.name}\n${f.text.endsWith('\n') ? f.text : f.text + '\n'}`).join('\n');
}

/** The app's Prisma schema location: backend/prisma/schema.prisma, else the folder backend/prisma/schema (Prisma's defaults). */
export function defaultSchemaPath(appDir: string): string {
  const file = path.join(appDir, 'backend/prisma/schema.prisma');
  const folder = path.join(appDir, 'backend/prisma/schema');
  if (!existsSync(file) && existsSync(folder) && statSync(folder).isDirectory()) return folder;
  return file;
}

export interface ResolvedDatabase {
  /** The URL as Prisma would see it, or undefined. */
  url?: string;
  /** Where it came from, for messages: `DATABASE_URL in backend/.env`, `the schema's literal url`, … */
  from: string;
}

/**
 * The datasource URL the way Prisma 6 resolves it: the variable the schema names (`url = env("ANY_VAR")`) from the
 * process environment, then the project root's .env, then the .env beside the schema (Prisma 6 loads both:
 * https://www.prisma.io/docs/orm/more/development-environment/environment-variables/env-files); a literal url as is.
 * A Prisma 7 schema has no url: prisma.config.ts's `datasource.url` (a string literal or env("VAR") /
 * process.env.VAR) is read instead (https://www.prisma.io/docs/orm/reference/prisma-config-reference#datasource).
 */
export function resolveDatasourceUrl(
  source: SchemaSource,
  projectRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedDatabase {
  const schemaDir = source.isFolder ? source.path : path.dirname(source.path);
  const envFiles = [
    ...new Set([path.join(projectRoot, '.env'), path.join(schemaDir, '.env'), path.join(projectRoot, 'prisma/.env')]),
  ];
  const lookup = (variable: string): ResolvedDatabase => {
    if (env[variable]) return { url: env[variable], from: `${variable} in the environment` };
    for (const file of envFiles) {
      if (!existsSync(file)) continue;
      const value = dotenv.parse(readFileSync(file))[variable];
      if (value?.trim()) return { url: value.trim(), from: `${variable} in ${file}` };
    }
    return { from: `${variable} (not set in the environment, ${envFiles.join(', ')})` };
  };
  if (source.url.kind === 'env') return lookup(source.url.variable);
  if (source.url.kind === 'literal')
    return { url: source.url.value, from: `the literal url in ${source.datasourceFile!.path}` };
  const config = prismaConfigFile(projectRoot);
  if (!config)
    return {
      from: `no url in the datasource of ${source.datasourceFile?.path ?? source.path} and no prisma.config.ts in ${projectRoot}`,
    };
  const url = prismaConfigUrl(config);
  if (url?.kind === 'literal') return { url: url.value, from: `the literal datasource url in ${config}` };
  if (url?.kind === 'env') return lookup(url.variable);
  return { from: `the datasource url in ${config} is computed, not a literal or an env variable (pass --sqlite FILE)` };
}

function prismaConfigFile(projectRoot: string): string | undefined {
  return ['prisma.config.ts', 'prisma.config.mts', 'prisma.config.js', 'prisma.config.mjs']
    .map((f) => path.join(projectRoot, f))
    .find((f) => existsSync(f));
}

/** prisma.config.ts's `datasource: { url: … }` when it is a string literal, env("VAR") or process.env.VAR (read as text, never run). */
function prismaConfigUrl(config: string): DatasourceUrl | undefined {
  const datasource = /datasource\s*:\s*\{([\s\S]*?)\}/.exec(readFileSync(config, 'utf8'))?.[1] ?? '';
  const literal = /\burl\s*:\s*(['"`])([^'"`$]*)\1/.exec(datasource);
  if (literal) return { kind: 'literal', value: literal[2] };
  const variable =
    /\burl\s*:\s*(?:env\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)|process\.env\.([A-Za-z_][A-Za-z0-9_]*)|process\.env\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])/.exec(
      datasource,
    );
  if (variable) return { kind: 'env', variable: variable[1] ?? variable[2] ?? variable[3] };
  return undefined;
}

/** The env variable a Prisma 7 app's prisma.config.ts reads its datasource URL from, if it names one. */
export function prisma7UrlVariable(projectRoot: string): string | undefined {
  const config = prismaConfigFile(projectRoot);
  const url = config ? prismaConfigUrl(config) : undefined;
  return url?.kind === 'env' ? url.variable : undefined;
}

/**
 * The SQLite file a `file:` URL names. Relative paths are relative to the schema file that holds the datasource
 * (https://www.prisma.io/docs/orm/overview/databases/sqlite "the path is relative to the schema file"); for a
 * folder that is the folder's datasource file; for prisma.config.ts (Prisma 7) the config file's folder.
 */
export function sqliteFileFromUrl(url: string, baseDir: string): string | undefined {
  const match = /^file:(.*)$/i.exec(url.trim());
  if (!match) return undefined;
  let file = match[1].replace(/\?.*$/, '');
  if (file.startsWith('//')) file = file.slice(2); // file://./dev.db and file:///abs/path both appear in the wild
  if (!file) return undefined;
  return path.resolve(baseDir, file);
}

/** Base folder for a relative `file:` path of this source (see sqliteFileFromUrl). */
export function sqliteBaseDir(source: SchemaSource, projectRoot: string): string {
  if (source.url.kind === 'none') return projectRoot;
  return path.dirname(source.datasourceFile?.path ?? source.path);
}

/**
 * Prisma's project root for the schema (where it loads ./.env and prisma.config.ts): the nearest folder with a
 * package.json from the schema up to `appDir`; else `<appDir>/backend` (VisionSuit's layout) or the folder above
 * `prisma/`.
 */
export function projectRootOf(source: SchemaSource, appDir: string): string {
  const start = source.isFolder ? source.path : path.dirname(source.path);
  const top = path.resolve(appDir);
  for (let dir = start; dir.startsWith(top); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (dir === top || path.dirname(dir) === dir) break;
  }
  if (start.startsWith(path.join(top, 'backend'))) return path.join(top, 'backend');
  return path.basename(start) === 'prisma' ? path.dirname(start) : start;
}

/**
 * The datasource URL of the app as Prisma resolves it from the app's own env files (the variable its schema or
 * prisma.config.ts names), or undefined with where it looked; the app's environment is not this tool's shell.
 */
export function resolveAppDatabaseUrl(schemaPath: string, appDir: string): ResolvedDatabase {
  const source = readSchemaSource(schemaPath);
  return resolveDatasourceUrl(source, projectRootOf(source, appDir), {});
}

/** The env file Prisma reads first for the app's URL: `.env` in the project root (projectRootOf). */
export function appEnvFile(schemaPath: string, appDir: string): string {
  return path.join(projectRootOf(readSchemaSource(schemaPath), appDir), '.env');
}

/**
 * The SQLite file the app's schema points at, or undefined with where it looked. The app's environment is its env
 * files, not this tool's shell, so `env` defaults to none.
 */
export function resolveSqliteFile(
  schemaPath: string,
  appDir: string,
  env: NodeJS.ProcessEnv = {},
): { file?: string; from: string } {
  const source = readSchemaSource(schemaPath);
  const root = projectRootOf(source, appDir);
  const resolved = resolveDatasourceUrl(source, root, env);
  if (!resolved.url) return { from: resolved.from };
  const file = sqliteFileFromUrl(resolved.url, sqliteBaseDir(source, root));
  return file ? { file, from: resolved.from } : { from: `${resolved.from} is not a file: URL` };
}
