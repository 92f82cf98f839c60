// The browser tests' harness: builds resedge, a NATS server and the example
// services, starts them on free loopback ports, and launches headless
// Chromium through playwright-core. (It lives outside test/ because
// `node --test test/` runs every script under test/ as a test file.)
import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const examplesDir = path.join(repoRoot, 'examples');
export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'examples');
const logsDir = path.join(artifactsDir, 'logs');

export const EXAMPLES = [
  'hello-world',
  'edit-text',
  'book-collection',
  'jwt-authentication',
  'password-authentication',
  'client-session',
];

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Every child process, so that none outlives the tests even when they
// crash.
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// freePort returns a loopback port that was free a moment ago.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Proc is a started binary whose output goes to a log file under
// test-artifacts/examples/logs/ and is kept for waitFor.
class Proc {
  constructor(name, bin, args) {
    this.name = name;
    this.output = '';
    this.waiters = [];
    this.log = createWriteStream(path.join(logsDir, `${name}.log`), { flags: 'a' });
    this.log.write(`\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    this.child = spawn(bin, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    this.exited = new Promise(resolve => {
      this.child.on('close', (code, signal) => {
        children.delete(this.child);
        this.exitCode = code ?? signal;
        this.log.write(`=== exited: ${code ?? signal}\n`);
        for (const w of this.waiters) w.reject(new Error(`${name} exited (${code ?? signal}) before printing ${w.re}:\n${this.tail()}`));
        this.waiters = [];
        resolve();
      });
    });
    const onData = d => {
      this.output += d;
      this.log.write(d);
      for (const w of [...this.waiters]) {
        const m = this.output.match(w.re);
        if (m) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    this.child.stdout.setEncoding('utf8').on('data', onData);
    this.child.stderr.setEncoding('utf8').on('data', onData);
  }

  tail() {
    return this.output.split('\n').slice(-20).join('\n');
  }

  // waitFor resolves with the match of re in the output (from the start).
  waitFor(re, timeoutMs = 20000) {
    const m = this.output.match(re);
    if (m) return Promise.resolve(m);
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited:\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const w = { re, resolve, reject };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name} did not print ${re} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      w.resolve = v => { clearTimeout(timer); resolve(v); };
      w.reject = e => { clearTimeout(timer); reject(e); };
      this.waiters.push(w);
    });
  }

  async stop() {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(killer);
    this.log.end();
  }
}

// RESEDGE_BIN, if set, is a resedge binary to test the examples against
// instead of building ./cmd/resedge.
const resedgeBin = process.env.RESEDGE_BIN;

// build compiles resedge, the test NATS server and every example into dir.
async function build(dir) {
  const pkgs = ['./examples/internal/testnats', ...EXAMPLES.map(e => `./examples/${e}`)];
  if (!resedgeBin) pkgs.unshift('./cmd/resedge');
  try {
    await promisify(execFile)('go', ['build', '-o', dir + path.sep, ...pkgs], { cwd: repoRoot, maxBuffer: 16 << 20 });
  } catch (err) {
    throw new Error(`go build failed:\n${err.stderr || err.message}`);
  }
}

// startAll builds and starts everything: a NATS server, resedge on it, and
// every example service. It returns the gateway's WebSocket URL, each
// example's page URL, and functions to restart the gateway and stop it all.
export async function startAll() {
  await rm(logsDir, { recursive: true, force: true });
  await mkdir(logsDir, { recursive: true });
  const bin = await mkdtemp(path.join(os.tmpdir(), 'resedge-examples-'));
  const procs = [];
  let gateway;
  const stop = async () => {
    await gateway?.stop();
    await Promise.all(procs.map(p => p.stop()));
    await rm(bin, { recursive: true, force: true });
  };
  try {
    await build(bin);

    const nats = new Proc('nats', path.join(bin, 'testnats'), []);
    procs.push(nats);
    const [, natsURL] = await nats.waitFor(/NATS ready on (\S+)/);

    const port = await freePort();
    const startGateway = async () => {
      gateway = new Proc('resedge', resedgeBin || path.join(bin, 'resedge'),
        ['--nats', natsURL, '--addr', '127.0.0.1', '--port', String(port), '--logformat', 'text']);
      await gateway.waitFor(/Server ready/);
    };
    await startGateway();

    const services = await Promise.all(EXAMPLES.map(async name => {
      const p = new Proc(name, path.join(bin, name), ['-nats', natsURL, '-addr', '127.0.0.1:0']);
      procs.push(p);
      const [, url] = await p.waitFor(/Ready: open (\S+)/);
      return [name, url];
    }));

    return {
      gatewayURL: `ws://127.0.0.1:${port}`,
      pages: Object.fromEntries(services),
      // restartGateway stops resedge and starts it again on the same port,
      // as an operator restarting it would.
      async restartGateway() {
        await gateway.stop();
        await startGateway();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// launchBrowser starts headless Chromium (Debian's, no browser download).
// playwright-core adds --headless and a fresh temporary --user-data-dir
// itself (it refuses a --user-data-dir in args).
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
