import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';

const { Server, utils } = ssh2;

/**
 * A real SSH server for the tests, in-process (ssh2's Server): a fresh ed25519 host key and client key per
 * server, publickey authentication only, `exec` answered by running the command with bash -c (stdin, stdout,
 * stderr piped, exit status sent back) and direct-tcpip answered by connecting to the requested host:port.
 * It writes a known_hosts file naming its host key and the client's private key (0600) into a temp folder,
 * so a task can be pointed at it exactly as an operator would point it at a database host.
 */
export interface TestSshServer {
  port: number;
  /** `root@127.0.0.1:PORT` for --ssh. */
  target: string;
  user: string;
  dir: string;
  /** Client private key, mode 0600. */
  keyFile: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…` */
  knownHostsFile: string;
  /** A known_hosts file naming a different key for the same host (a man-in-the-middle would look like this). */
  wrongKnownHostsFile: string;
  /** Every command received through `exec`, in order (tests assert no secret ever appears here). */
  commands: string[];
  /** Every direct-tcpip destination requested, as host:port. */
  forwards: string[];
  /** Number of clients that passed authentication. */
  authenticated: number;
  stop(): Promise<void>;
}

function publicBlob(openSshPublic: string): Buffer {
  const parsed = utils.parseKey(openSshPublic);
  if (parsed instanceof Error) throw parsed;
  return (Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH();
}

/**
 * ssh2's generateKeyPairSync('ed25519') makes a key its own parser rejects ("Malformed OpenSSH public key") about
 * once in 270 (measured: 11 of 3,000); with three keys per server and a dozen servers per test run that failed a
 * run in ten. Keep generating until both halves parse.
 */
function usableEd25519KeyPair(): ReturnType<typeof utils.generateKeyPairSync> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const keys = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(keys.public) instanceof Error) && !(utils.parseKey(keys.private) instanceof Error))
      return keys;
  }
  throw new Error('ssh2 made no parseable ed25519 key in 20 attempts');
}

export async function startSshServer(options: { user?: string } = {}): Promise<TestSshServer> {
  const user = options.user ?? 'root';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-ssh-'));
  const hostKeys = usableEd25519KeyPair();
  const clientKeys = usableEd25519KeyPair();
  const otherHostKeys = usableEd25519KeyPair();
  const clientPublic = utils.parseKey(clientKeys.public);
  if (clientPublic instanceof Error) throw clientPublic;
  const allowed = Array.isArray(clientPublic) ? clientPublic[0] : clientPublic;
  const allowedBlob = allowed.getPublicSSH();

  const state = { commands: [] as string[], forwards: [] as string[], authenticated: 0 };
  const clients = new Set<ssh2.Connection>();

  const server = new Server({ hostKeys: [hostKeys.private] }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== user) return ctx.reject(['publickey']);
      const blob = ctx.key.data;
      if (blob.length !== allowedBlob.length || !timingSafeEqual(blob, allowedBlob)) return ctx.reject(['publickey']);
      // Without a signature the client only asks whether this key would do; with one it proves possession.
      if (!ctx.signature) return ctx.accept();
      if (allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      return ctx.accept();
    });
    client.on('ready', () => {
      state.authenticated += 1;
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (accept, _reject, info) => {
          state.commands.push(info.command);
          const channel = accept();
          const child = spawn('bash', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
          channel.pipe(child.stdin);
          child.stdin.on('error', () => undefined);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          child.on('close', (code, signal) => {
            if (signal) channel.exit(signal);
            else channel.exit(code ?? 255);
            channel.end();
          });
        });
      });
      client.on('tcpip', (accept, reject, info) => {
        state.forwards.push(`${info.destIP}:${info.destPort}`);
        const socket = net.connect(info.destPort, info.destIP);
        socket.once('error', () => reject?.());
        socket.once('connect', () => {
          const channel = accept();
          socket.pipe(channel).pipe(socket);
          socket.on('error', () => channel.destroy());
          channel.on('error', () => socket.destroy());
          channel.on('close', () => socket.destroy());
          socket.on('close', () => channel.destroy());
        });
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const keyFile = path.join(dir, 'id_ed25519');
  writeFileSync(keyFile, clientKeys.private, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const hostLine = (pub: string) => `[127.0.0.1]:${port} ssh-ed25519 ${publicBlob(pub).toString('base64')}\n`;
  const knownHostsFile = path.join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, hostLine(hostKeys.public));
  const wrongKnownHostsFile = path.join(dir, 'known_hosts.wrong');
  writeFileSync(wrongKnownHostsFile, hostLine(otherHostKeys.public));

  return {
    port,
    target: `${user}@127.0.0.1:${port}`,
    user,
    dir,
    keyFile,
    knownHostsFile,
    wrongKnownHostsFile,
    get commands() {
      return state.commands;
    },
    get forwards() {
      return state.forwards;
    },
    get authenticated() {
      return state.authenticated;
    },
    stop: async () => {
      for (const client of clients) client.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
