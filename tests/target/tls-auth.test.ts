import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildAppUrl } from '../../lib/pg/app-url.ts';
import { loadSettings } from '../../lib/cli/config.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { makeCerts, startTlsTestPg, type TestCerts, type TlsTestPg } from '../helpers/tls.ts';

/**
 * TLS that never weakens and a password that only goes out over SCRAM or verified TLS, against real servers: an
 * impostor that speaks PostgreSQL's startup protocol (optionally behind TLS with a certificate no trusted CA signed)
 * and asks for the password in cleartext or MD5, recording every byte it receives; and a real TLS PostgreSQL.
 */
const test = suite('target: TLS and password authentication');
const SECRET = 'Imp0stor-must-not-see-this';
let certs: TestCerts;
let server: TlsTestPg;

interface Impostor {
  port: number;
  /** Everything the clients sent after the password request (TLS-decrypted). */
  received(): Buffer;
  /** Type bytes of the messages in received() ('p' = PasswordMessage, 'X' = Terminate). */
  messageTypes(): string[];
  close(): Promise<void>;
}

/** A PostgreSQL impostor: answers SSLRequest ('S' with `tlsCert`, else 'N'), then asks for the password. */
async function startImpostor(method: 'cleartext' | 'md5', tlsCert?: TestCerts): Promise<Impostor> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const speak = (socket: net.Socket | tls.TLSSocket) => {
    let buffered = Buffer.alloc(0);
    let asked = false;
    socket.on('data', (data: Buffer) => {
      if (asked) return void chunks.push(data);
      buffered = Buffer.concat([buffered, data]);
      if (buffered.length < 8) return;
      if (buffered.readInt32BE(0) === 8 && buffered.readInt32BE(4) === 80877103) {
        socket.removeAllListeners('data');
        if (!tlsCert) {
          socket.write('N');
          return speak(socket);
        }
        socket.write('S');
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          cert: readFileSync(tlsCert.certFile),
          key: readFileSync(tlsCert.keyFile),
        });
        secure.on('error', () => undefined);
        return speak(secure);
      }
      if (buffered.length < buffered.readInt32BE(0)) return;
      asked = true;
      // AuthenticationCleartextPassword (R, 8, 3) or AuthenticationMD5Password (R, 12, 5, salt).
      const request =
        method === 'cleartext'
          ? Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])
          : Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
      socket.write(request);
    });
  };
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    speak(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as net.AddressInfo).port,
    received: () => Buffer.concat(chunks),
    messageTypes: () => {
      const all = Buffer.concat(chunks);
      const types: string[] = [];
      for (let at = 0; at + 5 <= all.length; at += 1 + all.readInt32BE(at + 1))
        types.push(String.fromCharCode(all[at]));
      return types;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

const checkTarget = (url: string, args: string[] = []): Promise<CliRun> =>
  runTask('check-target', ['--json', ...args], { env: { TARGET_DATABASE_URL: url } });
const cause = (run: CliRun) => `${run.json?.summary ?? ''}\n${run.stderr}`;

test.before(async () => {
  certs = makeCerts();
  server = await startTlsTestPg({ refusePlaintext: true });
});
test.after(async () => {
  await server?.stop();
  certs?.cleanup();
});

test('cleartext and MD5 password requests are refused (exit 3); the password never reaches the impostor; --allow-insecure-auth answers', async () => {
  for (const method of ['cleartext', 'md5'] as const) {
    const impostor = await startImpostor(method);
    try {
      const url = `postgresql://app:${SECRET}@127.0.0.1:${impostor.port}/app`;
      const run = await checkTarget(url);
      assert.equal(impostor.messageTypes(), ['X'], `${method}: after the request the client only says goodbye`);
      assert.is(run.code, 3, cause(run));
      assert.match(
        cause(run),
        method === 'cleartext'
          ? /asked for the password in cleartext; refused/
          : /asked for the password as an MD5 hash; refused/,
      );
      if (method === 'cleartext') {
        await checkTarget(url, ['--allow-insecure-auth']);
        assert.ok(
          impostor.received().includes(SECRET),
          'with the opt-out the cleartext password is sent, as documented',
        );
      }
    } finally {
      await impostor.close();
    }
  }
});

test('--require-tls verifies the certificate: an impostor with a certificate no trusted CA signed gets no password (exit 3)', async () => {
  const impostor = await startImpostor('cleartext', certs);
  try {
    const base = `postgresql://app:${SECRET}@localhost:${impostor.port}/app`;
    const plain = await checkTarget(base, ['--require-tls']);
    assert.not.ok(impostor.received().includes(SECRET), 'the password reached the impostor');
    assert.is(plain.code, 3, cause(plain));
    assert.match(cause(plain), /could not be verified against the system's CAs/);
    // The URL's own verify-full with another CA is kept under --require-tls, never replaced by "accept anything".
    const pinned = await checkTarget(
      `${base}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.otherCaFile)}`,
      ['--require-tls'],
    );
    assert.is(pinned.code, 3, cause(pinned));
    assert.match(cause(pinned), /could not be verified against the given CA/);
    assert.equal(impostor.messageTypes(), [], 'no message after the TLS handshake failed');
    // The explicit opt-out: TLS unverified, warned loudly; the cleartext request is still refused.
    const skipped = await checkTarget(base, ['--require-tls', '--insecure-skip-tls-verify']);
    assert.is(skipped.code, 3, cause(skipped));
    assert.match(skipped.stderr, /--insecure-skip-tls-verify: the certificate of localhost:\d+ is NOT verified/);
    assert.match(cause(skipped), /in cleartext; refused/);
    assert.not.ok(impostor.messageTypes().includes('p'));
    assert.not.ok(impostor.received().includes(SECRET));
  } finally {
    await impostor.close();
  }
});

test('a real TLS server: --require-tls --ca passes verify-full; sslmode=disable under --require-tls is refused before connecting (exit 2)', async () => {
  const { url } = await server.freshDatabase('tlsok');
  const verified = await checkTarget(url, ['--require-tls', '--ca', server.certs.caFile]);
  assert.ok(
    verified.json?.checks.find((c: { name: string }) => c.name === 'certificate').reason.includes('verify-full'),
    cause(verified),
  );
  assert.is(verified.json?.checks.find((c: { name: string }) => c.name === 'tls').status, 'pass');
  const disabled = await checkTarget(`${url}?sslmode=disable`, ['--require-tls']);
  assert.is(disabled.code, 2, cause(disabled));
  assert.match(cause(disabled), /sslmode=disable but --require-tls asks for TLS/);
});

test("the app's URL gets the TLS the suite used, in Prisma's dialect (sslmode=require, sslcert = CA, sslaccept)", () => {
  const target = `postgresql://app:pw@db.example:5432/vs?schema=public&sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.caFile)}`;
  const app = new URL(buildAppUrl(loadSettings(['--target', target], {}, {}).settings).url);
  assert.equal(
    [
      app.searchParams.get('sslmode'),
      app.searchParams.get('sslcert'),
      app.searchParams.get('sslaccept'),
      app.searchParams.get('schema'),
    ],
    ['require', certs.caFile, 'strict', 'public'],
  );
  assert.is(app.searchParams.get('sslrootcert'), null);
  const skipped = new URL(
    buildAppUrl(
      loadSettings(['--target', 'postgresql://app:pw@db/vs', '--require-tls', '--insecure-skip-tls-verify'], {}, {})
        .settings,
    ).url,
  );
  assert.is(skipped.searchParams.get('sslaccept'), 'accept_invalid_certs');
  const none = buildAppUrl(
    loadSettings(['--target', 'postgresql://app:pw@db/vs?sslmode=disable'], {}, {}).settings,
  ).url;
  assert.is(new URL(none).searchParams.get('sslmode'), 'disable');
});

test.run();
