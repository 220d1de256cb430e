import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { NodeSSH } from 'node-ssh';
import type { Settings, SshTarget } from '../cli/config.ts';
import { targetNotReady, usageError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';

/**
 * SSH access to the database host through node-ssh (ssh2 underneath): host keys are checked against
 * known_hosts (no trust-on-first-use, ever), private keys must not be readable by others, and the
 * connection is used either to forward a local port to PostgreSQL or to run a command on the host.
 */
export interface KnownHostEntry {
  hostPatterns: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  key: Buffer;
  marker?: 'revoked' | 'cert-authority';
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (parts[0].startsWith('@')) {
      marker = parts.shift()!.slice(1) as KnownHostEntry['marker'];
    }
    const [hosts, keyType, keyBase64] = parts;
    if (!hosts || !keyType || !keyBase64) continue;
    const entry: KnownHostEntry = { hostPatterns: [], keyType, key: Buffer.from(keyBase64, 'base64'), marker };
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      entry.hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      entry.hostPatterns = hosts.split(',');
    }
    entries.push(entry);
  }
  return entries;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i',
  );
  return regex.test(name);
}

function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return digest.equals(entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.hostPatterns) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Decide whether `key` (the raw public key blob the server offered) is known for host:port. */
export function verifyHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): 'known' | 'unknown' | 'mismatch' | 'revoked' {
  const name = knownHostsName(host, port);
  if (entries.some((e) => e.marker === 'revoked' && e.key.equals(key))) return 'revoked';
  const forHost = entries.filter((e) => e.marker === undefined && entryMatchesHost(e, name));
  if (forHost.some((e) => e.key.equals(key))) return 'known';
  return forHost.length ? 'mismatch' : 'unknown';
}

export function assertPrivateKeyFile(file: string): void {
  if (!existsSync(file)) throw usageError(`SSH key ${file} does not exist`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw usageError(
      `SSH key ${file} has mode ${mode.toString(8).padStart(4, '0')}; it must be readable by its owner only (chmod 600)`,
    );
  }
}

/** DomainError details marking an SSH-level failure (check-target reports it as its own check). */
const SSH_FAILURE = { failure: 'ssh' } as const;

export interface SshSession {
  ssh: NodeSSH;
  target: SshTarget;
  close(): void;
}

export async function openSsh(settings: Settings, log: Logger): Promise<SshSession> {
  const target = settings.ssh;
  if (!target) throw usageError('no --ssh target given');
  const keyFile =
    settings.sshKey ??
    [path.join(os.homedir(), '.ssh/id_ed25519'), path.join(os.homedir(), '.ssh/id_rsa')].find((f) => existsSync(f));
  if (!keyFile) throw usageError('no SSH key: pass --ssh-key FILE (SSH_KEY_PATH)');
  assertPrivateKeyFile(keyFile);
  const knownHostsFile = settings.knownHosts ?? path.join(os.homedir(), '.ssh/known_hosts');
  if (!existsSync(knownHostsFile)) {
    throw targetNotReady(
      `known_hosts file ${knownHostsFile} does not exist; add the host key of ${target.host} first (ssh-keyscan, then check its fingerprint)`,
      SSH_FAILURE,
    );
  }
  const entries = parseKnownHosts(readFileSync(knownHostsFile, 'utf8'));
  // Stays undefined when the server never got as far as showing its key (refused, timed out): then the cause is
  // the connection, not the host key.
  let verdict: ReturnType<typeof verifyHostKey> | undefined;
  // Loaded here, not at the top: node-ssh (ssh2 and its crypto) costs every task ≈ 40–50 ms of start-up, and only a
  // run through an SSH tunnel needs it.
  const { NodeSSH: SshClient } = await import('node-ssh');
  const ssh = new SshClient();
  try {
    await ssh.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: readFileSync(keyFile, 'utf8'),
      readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => {
        verdict = verifyHostKey(entries, target.host, target.port, key);
        return verdict === 'known';
      },
    } as Parameters<NodeSSH['connect']>[0]);
  } catch (err) {
    ssh.dispose();
    const where = `${target.user}@${knownHostsName(target.host, target.port)}`;
    if (verdict === 'unknown')
      throw targetNotReady(
        `SSH host key of ${where} is not in ${knownHostsFile}; refusing to trust it on first use`,
        SSH_FAILURE,
      );
    if (verdict === 'mismatch')
      throw targetNotReady(
        `SSH host key of ${where} does not match ${knownHostsFile} (possible man-in-the-middle); refusing to connect`,
        SSH_FAILURE,
      );
    if (verdict === 'revoked')
      throw targetNotReady(`SSH host key of ${where} is marked @revoked in ${knownHostsFile}`, SSH_FAILURE);
    throw targetNotReady(`SSH connection to ${where} failed: ${(err as Error).message}`, SSH_FAILURE);
  }
  log.debug(`SSH connected to ${target.user}@${target.host}:${target.port}`);
  return { ssh, target, close: () => ssh.dispose() };
}

export interface SshTunnel {
  localHost: string;
  localPort: number;
  /** Why the SSH host could not open the last forward (e.g. nothing listening there), for error messages. */
  lastError?: string;
  close(): Promise<void>;
}

/**
 * Forward a local loopback port to remoteHost:remotePort as seen from the SSH host. node-postgres then
 * connects to the local port; TLS (when used) still runs end to end between node-postgres and the server.
 */
export async function openTunnel(
  session: SshSession,
  remoteHost: string,
  remotePort: number,
  log: Logger,
): Promise<SshTunnel> {
  const sockets = new Set<net.Socket>();
  const tunnel: SshTunnel = {
    localHost: '127.0.0.1',
    localPort: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    session.ssh
      .forwardOut('127.0.0.1', 0, remoteHost, remotePort)
      .then((channel) => {
        socket.pipe(channel).pipe(socket);
        channel.on('close', () => socket.destroy());
        socket.on('close', () => channel.close());
      })
      .catch((err: Error) => {
        tunnel.lastError = err.message;
        log.debug(`SSH forward to ${remoteHost}:${remotePort} failed: ${err.message}`);
        socket.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  tunnel.localPort = port;
  return tunnel;
}
