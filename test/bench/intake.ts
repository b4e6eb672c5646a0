// Intake throughput against a baseline, in one run, alternating A/B/A/B so drift on a
// noisy machine hits both sides alike; both servers stay up the whole time (long-lived
// instances, as in production); Facteur's is the container's command, dist/image/server.js
// (BENCH_ENTRY names another). Then cold start and RSS of the intake entry point.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { encodeCodexTask } from '../../shared/intake/codex-task.js';
import { freePort } from '../helpers/spawn.js';
import { runLoad, send, type LoadResult, type Req } from './load.js';

const CONNECTIONS = 32;

function server(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, args, { env: { ...process.env, NODE_ENV: 'production', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function waitHealthy(url: string, proc: ChildProcess, timeoutMs = 20_000, probe: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  let err = '';
  proc.stderr?.on('data', (c) => (err += c));
  while (performance.now() - t0 < timeoutMs) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${err}`);
    if (await probe().catch(() => false)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`server at ${url} not ready: ${err}`);
}

let seq = 0;
function codexTaskEvent(tag: string): Req {
  seq += 1;
  const deliveryId = `bench-${tag}-${process.pid}-${seq}`;
  const body = Buffer.from(encodeCodexTask({
    stage: 'planning', repository: 'bench/repo', issueNumber: String(seq), issueTitle: `Bench ${seq}`,
    deliveryId, prompt: 'Plan the thing', base: 'main', head: `codex/${seq}`, sender: 'bench',
  }));
  return {
    path: '/',
    body,
    headers: {
      'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event',
      'ce-source': '/apis/v1/namespaces/facteur/kafkasources/bench#github.issues.codex.tasks',
      'ce-id': `partition:0/offset:${tag}-${seq}`, 'content-type': 'application/x-protobuf',
      'ce-kafkaheaderxgithubdelivery': deliveryId,
    },
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function benchIntake(databaseUrl: string, seconds: number): Promise<void> {
  const [pb, pi] = [await freePort(), await freePort()];
  const pool = '10';
  const baseline = server(['--import', 'tsx', 'node_modules/@google-cloud/functions-framework/build/src/main.js', '--target=baseline', '--signature-type=cloudevent', '--source=test/bench/baseline.mjs', `--port=${pb}`], { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: pool });
  // BENCH_PROFILE=<dir>: write a CPU profile of the intake process there
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // without Kafka whatever the environment says: each event's outbox row is written, its relay is not measured
  const intake = server([...profile, process.env.BENCH_ENTRY ?? 'dist/image/server.js'], { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: pool, FUNCTION_TARGET: 'intake', PORT: String(pi), FACTEUR_LOG_LEVEL: 'warn', KAFKA_BROKERS: '' });
  const bUrl = `http://127.0.0.1:${pb}`;
  const iUrl = `http://127.0.0.1:${pi}`;
  try {
    const agent = new Agent({ keepAlive: true });
    await waitHealthy(bUrl, baseline, 20_000, async () => (await send(agent, new URL(bUrl), codexTaskEvent('warm'))) < 300);
    await waitHealthy(iUrl, intake, 20_000, async () => (await fetch(`${iUrl}/healthz`)).ok);
    agent.destroy();
    // warm both (JIT, pools, plans)
    await runLoad(bUrl, CONNECTIONS, 1, () => codexTaskEvent('wb'));
    await runLoad(iUrl, CONNECTIONS, 1, () => codexTaskEvent('wi'));
    const a: LoadResult[] = [];
    const b: LoadResult[] = [];
    for (let round = 0; round < 2; round++) {
      a.push(await runLoad(bUrl, CONNECTIONS, seconds, () => codexTaskEvent(`b${round}`)));
      b.push(await runLoad(iUrl, CONNECTIONS, seconds, () => codexTaskEvent(`i${round}`)));
    }
    const eps = (rs: LoadResult[]) => rs.reduce((s, r) => s + r.perSecond, 0) / rs.length;
    for (const [name, rs] of [['baseline', a], ['intake', b]] as const) {
      for (const [i, r] of rs.entries()) {
        console.log(`  ${name} round ${i + 1}: ${r.perSecond.toFixed(0)} ev/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors}, statuses ${JSON.stringify(r.statuses)}`);
      }
    }
    const p99 = Math.max(...b.map((r) => r.p99));
    console.log(`RESULT intake_eps=${eps(b).toFixed(0)} baseline_eps=${eps(a).toFixed(0)} ratio=${(eps(b) / eps(a)).toFixed(3)} p99_ms=${p99.toFixed(2)}`);
  } finally {
    baseline.kill();
    intake.kill('SIGINT');
    await new Promise((r) => intake.once('exit', r));
  }

  await benchColdStart(databaseUrl, pool);
}

/** `npm run bench -- coldstart` runs only this part. */
export async function benchColdStart(databaseUrl: string, pool = '10'): Promise<void> {
  // Cold start: spawn → first 2xx answer to a real event, for the container's command (the
  // bundle, dist/image/server.js) and for the unbundled tsc output it is built from,
  // alternately, 5 each (the median); the bundle also with KAFKA_BROKERS set, as every function
  // runs in a cluster (the brokers here: a listener that accepts and never answers, counting
  // what reaches it); then RSS of the container's after 1k requests.
  const broker = await holdingListener();
  const coldStart = async (entry: string, rss: boolean, kafka = ''): Promise<{ ms: number; reached: number; rssMb?: number }> => {
    const pc = await freePort();
    const before = broker.connections();
    const t0 = performance.now();
    const cold = server([entry], { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: pool, FUNCTION_TARGET: 'intake', PORT: String(pc), FACTEUR_LOG_LEVEL: 'warn', KAFKA_BROKERS: kafka });
    try {
      const url = new URL(`http://127.0.0.1:${pc}`);
      const agent = new Agent({ keepAlive: true });
      await waitHealthy(url.href, cold, 20_000, async () => (await send(agent, url, codexTaskEvent('cold'))) < 300);
      const ms = performance.now() - t0;
      // what reached the brokers before that first answer (the relay may publish right after it)
      const reached = broker.connections() - before;
      if (!rss) {
        agent.destroy();
        return { ms, reached };
      }
      for (let i = 0; i < 1000; i += 20) await Promise.all(Array.from({ length: 20 }, () => send(agent, url, codexTaskEvent('rss'))));
      agent.destroy();
      return { ms, reached, rssMb: rssMb(cold.pid!) };
    } finally {
      cold.kill();
      await new Promise((r) => (cold.exitCode !== null ? r(undefined) : cold.once('exit', r)));
    }
  };
  const image: number[] = [];
  const withKafka: number[] = [];
  const unbundled: number[] = [];
  let reached = 0;
  try {
    for (let i = 0; i < 5; i++) {
      image.push((await coldStart('dist/image/server.js', false)).ms);
      const start = await coldStart('dist/image/server.js', false, broker.address);
      withKafka.push(start.ms);
      reached += start.reached;
      unbundled.push((await coldStart('dist/functions/server.js', false)).ms);
    }
  } finally {
    await broker.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const last = await coldStart('dist/image/server.js', true);
  const list = (xs: number[]) => `${median(xs).toFixed(0)} ms [${xs.map((x) => x.toFixed(0)).join(' ')}]`;
  console.log(`  cold start, median of 5: image ${list(image)}, with KAFKA_BROKERS ${list(withKafka)} (connections that reached the brokers before the first answer: ${reached}), unbundled ${list(unbundled)}`);
  console.log(`RESULT coldstart_ms=${median(image).toFixed(0)} kafka_ms=${median(withKafka).toFixed(0)} unbundled_ms=${median(unbundled).toFixed(0)} ratio=${(median(image) / median(unbundled)).toFixed(2)} rss_mb=${last.rssMb!.toFixed(1)}`);
}

/** A TCP listener that takes connections and never answers: brokers configured, not contacted at start. */
async function holdingListener(): Promise<{ address: string; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const held = new Set<Socket>();
  const listener = createNetServer((s) => {
    n++;
    held.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(listener.address() as { port: number }).port}`,
    connections: () => n,
    close: () => {
      for (const s of held) s.destroy();
      return new Promise((r) => listener.close(() => r()));
    },
  };
}
