// Starts the real services the tests and benchmarks need, when the environment does not
// already point at them: a PostgreSQL 15 server with pgvector (DATABASE_URL) and a
// Kafka-protocol broker (KAFKA_BROKERS, librdkafka's mock cluster driven by kcat).
// Plain ESM so it runs before anything is compiled.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const log = (msg) => process.stderr.write(`[services] ${msg}\n`);

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function asPostgresUser(cmd, args) {
  // PostgreSQL refuses to run as root; drop to the distribution's postgres user.
  return userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/**
 * Starts a throwaway PostgreSQL server; resolves to { url, stop }. `sharedBuffers`: the
 * benchmarks ask for more than the tests, so the knowledge base's HNSW index over 100k
 * vectors stays in PostgreSQL's own cache (pgvector's advice: an index that does not fit is
 * read from the OS cache on every query, several times slower).
 */
export async function startPostgres({ sharedBuffers = '256MB' } = {}) {
  const started = Date.now();
  const bin = execFileSync('bash', [join(here, 'ensure-postgres.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'facteur-pg-'));
  const data = join(dir, 'data');
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const run = (cmd, args) => {
    const [c, a] = asPostgresUser(join(bin, cmd), args);
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '--auth=trust', '--username=postgres', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  // fsync off: a test database never has to survive a power cut, and it halves commit time.
  const opts = [
    `-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off',
    '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=300',
    `-c shared_buffers=${sharedBuffers}`,
  ].join(' ');
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', 'start']);
  // Asynchronous, so a harness injecting faults keeps running while pg_ctl waits.
  const runAsync = (cmd, args) =>
    new Promise((resolve, reject) => {
      const [c, a] = asPostgresUser(join(bin, cmd), args);
      const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${out}`))));
    });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  log(`PostgreSQL 15 + pgvector on ${url} (${Date.now() - started} ms)`);
  let stopped = false;
  return {
    url,
    port,
    /** The server log (appended to across restarts). */
    logFile: join(dir, 'server.log'),
    /**
     * Stops the server but keeps its files (`fast`: sessions are terminated, committed data
     * kept); `startServer()` brings it back on the same port. For fault injection.
     */
    stopServer(mode = 'fast') {
      return runAsync('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    },
    startServer() {
      return runAsync('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', 'start']);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch (err) {
        log(`stopping PostgreSQL: ${err.message}`);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts librdkafka's mock Kafka cluster through kcat; resolves to { brokers, stop }. */
export async function startKafka() {
  if (!existsSync('/usr/bin/kcat')) {
    log('installing kcat (librdkafka mock cluster)');
    let r = spawnSync('apt-get', ['install', '-y', '-qq', 'kcat'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      r = spawnSync('apt-get', ['install', '-y', '-qq', 'kcat'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) throw new Error('could not install kcat');
    }
  }
  const child = spawn('kcat', ['-b', '127.0.0.1:1', '-X', 'test.mock.num.brokers=1', '-d', 'mock', '-q', '-C', '-t', '__warmup', '-o', 'end'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const brokers = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`kcat mock cluster did not start: ${buf}`)), 10_000);
    child.stderr.on('data', (chunk) => {
      buf += chunk.toString();
      const m = /bootstrap\.servers=([0-9.:,]+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`kcat exited (${code}): ${buf}`)));
  });
  log(`Kafka-protocol mock cluster on ${brokers}`);
  return {
    brokers,
    /** The kcat process hosting the mock cluster (SIGSTOP/SIGCONT pause it without losing data). */
    pid: child.pid,
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    stop() {
      child.kill('SIGTERM');
      child.kill('SIGCONT'); // a paused cluster handles the SIGTERM once continued
    },
  };
}

/** Starts what the environment does not already provide and exports it to process.env. */
/**
 * The dashboard's browser tests drive Debian's Chromium (test/dashboard/browser.test.ts):
 * installed here when it is missing. If the install fails, that file skips with the reason.
 */
export function ensureChromium() {
  if (existsSync('/usr/bin/chromium')) return true;
  log('installing chromium (apt-get) for the dashboard\'s browser tests');
  const run = (args) => spawnSync(userInfo().uid === 0 ? 'apt-get' : 'sudo', userInfo().uid === 0 ? args : ['-n', 'apt-get', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000,
  });
  run(['update']);
  const r = run(['install', '-y', '--no-install-recommends', 'chromium']);
  if (r.status !== 0 || !existsSync('/usr/bin/chromium')) {
    log(`could not install chromium (apt-get exit ${r.status}): the browser tests will be skipped`);
    return false;
  }
  return true;
}

export async function ensureServices({ kafka = true, browser = kafka, sharedBuffers = undefined } = {}) {
  if (browser) ensureChromium();
  const stops = [];
  if (!process.env.DATABASE_URL) {
    const pg = await startPostgres({ sharedBuffers });
    process.env.DATABASE_URL = pg.url;
    stops.push(() => pg.stop());
  } else {
    log(`using DATABASE_URL from the environment`);
  }
  if (kafka && !process.env.KAFKA_BROKERS) {
    const k = await startKafka();
    process.env.KAFKA_BROKERS = k.brokers;
    stops.push(() => k.stop());
  } else if (kafka) {
    log(`using KAFKA_BROKERS=${process.env.KAFKA_BROKERS} from the environment`);
  }
  const stopAll = () => {
    while (stops.length) stops.pop()();
  };
  return stopAll;
}
