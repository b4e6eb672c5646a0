// The dispatch hop: a step posts `completed` for a task whose successor is waiting on it;
// we time until the successor's Workflow create reaches the (fake) Kubernetes API. The
// callbacks function runs as its own long-lived process (the container's command,
// dist/image/server.js; BENCH_ENTRY names another) with
// client-node talking to the fake API server in this process. Open-loop load: requests
// are sent on schedule whether or not earlier ones were answered.
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../../shared/config/index.js';
import { connect } from '../../shared/db/index.js';
import { runToken } from '../../shared/lifecycle/tokens.js';
import { policyForIdea } from '../../shared/policy/store.js';
import { startFakeKube } from '../helpers/fake-kube.js';
import { freePort } from '../helpers/spawn.js';
import { startFakeCollector } from '../helpers/fake-otlp.js';
import { hopBreakdown } from './hop-spans.js';

const SECRET = 'bench-callback-secret';

interface Pair { runId: string; ideaId: string }

async function seedPairs(url: string, n: number, tag: string): Promise<Pair[]> {
  const sql = connect(url, { max: 1 });
  try {
    // n ideas, each: task `a` running (attempt 1, its run `running`) and `b` pending on it.
    const rows = await sql<{ run_id: string; idea_id: string }[]>`
      with i as (
        insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
        select 'api', ${tag} || '-' || g, 'Bench ' || g, 'bench/repo' || (g % 16), '{}', 'running_tasks'
          from generate_series(1, ${n}) g returning id, repository
      ), a as (
        insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch, attempts)
        select id, 'a', 'implementation', 'running', 'A', repository, 'bench-a', 1 from i returning id, idea_id, repository
      ), b as (
        insert into codex_kb.tasks (idea_id, key, stage, state, title, repository, branch)
        select id, 'b', 'implementation', 'pending', 'B', repository, 'bench-b-' || id from i returning id, idea_id
      ), d as (
        insert into codex_kb.task_dependencies (task_id, depends_on_task_id, dependency_type)
        select b.id, a.id, 'hard' from a join b using (idea_id)
      )
      insert into codex_kb.task_runs (task_id, idea_id, attempt, status, external_run_id, stage, repository, workspace, started_at)
      select a.id, a.idea_id, 1, 'running', 'bench-' || a.id, 'implementation', a.repository, a.repository || '#bench-a-' || a.id, now()
        from a returning id as run_id, idea_id`;
    // As in production, where the idea went through its plan checkpoint and the run was
    // claimed: both carry their effective policy's hash (one per repository), so a
    // completion's checkpoint does not stamp them again.
    const ideaIds = rows.map((r) => r.idea_id);
    const firstOf = await sql<{ repository: string; idea_id: string }[]>`
      select distinct on (i.repository) i.repository, i.id as idea_id from codex_kb.ideas i
       where i.id = any(${ideaIds}::uuid[]) order by i.repository, i.id`;
    for (const f of firstOf) {
      const { hash } = await policyForIdea(sql, f.idea_id);
      await sql`
        with ideas as (
          update codex_kb.ideas set effective_policy_hash = ${hash}
           where repository = ${f.repository} and id = any(${ideaIds}::uuid[]) returning id
        )
        update codex_kb.task_runs set effective_policy_hash = ${hash} where idea_id in (select id from ideas)`;
    }
    // what autovacuum does after a load this size: without it the planner keeps the empty
    // tables' statistics and joins a seq scan of every task into each completion's promotion
    await sql`analyze codex_kb.ideas, codex_kb.tasks, codex_kb.task_dependencies, codex_kb.task_runs`;
    return rows.map((r) => ({ runId: r.run_id, ideaId: r.idea_id }));
  } finally {
    await sql.end();
  }
}

interface Send { readonly key: string; readonly path: string; readonly headers: Record<string, string>; readonly body: string }

/** A run's `completed` callback, as its step sends it. */
function completion(pair: Pair): Send {
  const body = JSON.stringify({ seq: 1, type: 'completed', outcome: 'succeeded', at: new Date().toISOString() });
  return { key: pair.ideaId, path: `/v1/runs/${pair.runId}/events`, body, headers: { authorization: `Bearer ${runToken(new Secret(SECRET), pair.runId, 1)}` } };
}

function post(agent: Agent, port: number, send: Send): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent, host: '127.0.0.1', port, method: 'POST', path: send.path,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(send.body), ...send.headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(send.body);
  });
}

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answered on port ${port}`);
}

interface Phase { rate: number; sent: number; created: number; seconds: number; achieved: number; p50: number; p99: number; errors: number }

export async function benchDispatch(databaseUrl: string, seconds: number): Promise<void> {
  const kube = await startFakeKube();
  const sent = new Map<string, number>(); // ideaId → send time
  const latencies: number[] = [];
  kube.onCreate((wf: any) => {
    const ideaId = wf.metadata?.annotations?.['facteur.dev/idea-id'];
    const t0 = sent.get(ideaId);
    if (t0 !== undefined) latencies.push(performance.now() - t0);
  });
  const dir = mkdtempSync(join(tmpdir(), 'facteur-bench-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeConfig().exportConfig());
  const port = await freePort();
  // BENCH_PROFILE=<dir>: write a CPU profile of the callbacks process there
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const callbacksProcess = (p: number, extra: Record<string, string> = {}, args: string[] = []) => spawn(process.execPath, [...args, process.env.BENCH_ENTRY ?? 'dist/image/server.js'], {
    env: {
      ...process.env, NODE_ENV: 'production', DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: process.env.BENCH_POOL ?? '10', FUNCTION_TARGET: 'callbacks', PORT: String(p),
      KUBECONFIG: kubeconfig, FACTEUR_CALLBACK_SECRET: SECRET, FACTEUR_PUBLIC_URL: 'http://callbacks.facteur.svc', FACTEUR_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
      FACTEUR_LIMIT_GLOBAL: '10000', FACTEUR_LIMIT_REPOSITORY: '10000', FACTEUR_LIMIT_IDEA: '10', FACTEUR_LIMIT_STAGES: 'implementation=10000',
      // without Kafka whatever the environment says: the outbox is written, its relay is not part of the hop
      KAFKA_BROKERS: '',
      ...extra,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const server = callbacksProcess(port, {}, profile);
  // the floor: a plain LISTEN/NOTIFY job hop on the same database (test/bench/floor.mjs)
  const floorPort = await freePort();
  const floor = spawn(process.execPath, ['test/bench/floor.mjs'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: process.env.BENCH_POOL ?? '10', PORT: String(floorPort), FLOOR_KUBE_URL: kube.url },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  try {
    await waitHealthy(port);
    await waitHealthy(floorPort);
    const facteur = { port, prepare: async (n: number, tag: string) => (await seedPairs(databaseUrl, n, tag)).map(completion) };
    const plain = { port: floorPort, prepare: async (n: number, tag: string) => Array.from({ length: n }, (_, i): Send => ({ key: `${tag}-${i}`, path: `/jobs/${tag}-${i}`, headers: {}, body: '' })) };
    const phase = async (rate: number, secs: number, tag: string, target = facteur): Promise<Phase> => {
      const total = Math.round(rate * secs);
      const sends = await target.prepare(total, tag);
      if (process.env.BENCH_DEBUG) console.error(`prepared ${sends.length} for ${tag}`);
      latencies.length = 0;
      let errors = 0;
      const started = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = started + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const send = sends[i]!;
        sent.set(send.key, performance.now());
        inflight.push(post(agent, target.port, send).then((s) => { if (s !== 202) errors++; }, () => { errors++; }));
      }
      await Promise.all(inflight);
      if (process.env.BENCH_DEBUG) console.error(`sent ${total}, errors ${errors}, created ${latencies.length}, kube requests ${kube.requests.length}`);
      const deadline = performance.now() + 5000;
      while (latencies.length < total - errors && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const elapsed = (performance.now() - started) / 1000;
      const sorted = [...latencies].sort((a, b) => a - b);
      const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
      return { rate, sent: total, created: sorted.length, seconds: elapsed, achieved: sorted.length / elapsed, p50: q(0.5), p99: q(0.99), errors };
    };
    await phase(100, 2, 'floor-warm', plain);
    const base = await phase(200, seconds, 'floor-fixed', plain);
    console.log(`  floor (LISTEN/NOTIFY job hop) at 200/s for ${seconds}s: ${base.created}/${base.sent} created, errors ${base.errors}, p50 ${base.p50.toFixed(2)} ms, p99 ${base.p99.toFixed(2)} ms`);
    await phase(100, 2, 'warm');
    const fixed = await phase(200, seconds, 'fixed');
    console.log(`  dispatch at 200/s for ${seconds}s: ${fixed.created}/${fixed.sent} successors created, errors ${fixed.errors}, p50 ${fixed.p50.toFixed(2)} ms, p99 ${fixed.p99.toFixed(2)} ms`);
    console.log(`RESULT dispatch_p50_ms=${fixed.p50.toFixed(2)} dispatch_p99_ms=${fixed.p99.toFixed(2)} rate=${fixed.achieved.toFixed(0)} floor_p50_ms=${base.p50.toFixed(2)} floor_p99_ms=${base.p99.toFixed(2)} p50_to_floor=${(fixed.p50 / base.p50).toFixed(2)}`);
    const ramp = async (target: typeof facteur, name: string) => {
      let best: Phase | undefined;
      for (const rate of [50, 100, 150, 200, 250, 300, 400, 500, 600, 800]) {
        const p = await phase(rate, Math.max(4, Math.round(seconds / 2)), `${name}-ramp${rate}`, target);
        const ok = p.errors === 0 && p.created >= p.sent * 0.99 && p.p99 <= 50;
        console.log(`  ${name} ramp ${rate}/s: achieved ${p.achieved.toFixed(0)}/s, p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms, errors ${p.errors} ${ok ? 'ok' : '(over)'}`);
        if (!ok) break;
        best = p;
      }
      return best;
    };
    const best = await ramp(facteur, 'dispatch');
    const bestFloor = await ramp(plain, 'floor');
    console.log(`RESULT dispatch_max_per_s=${best ? best.rate : 0} p99_ms=${best ? best.p99.toFixed(2) : 'n/a'} floor_max_per_s=${bestFloor ? bestFloor.rate : 0}`);
    // where the time goes: the same hop at 10/s through a second callbacks process that traces
    const receiver = await startFakeCollector();
    const tracedPort = await freePort();
    const traced = callbacksProcess(tracedPort, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200' });
    try {
      await waitHealthy(tracedPort);
      const t = await phase(10, 3, 'traced', { ...facteur, port: tracedPort });
      await new Promise((r) => setTimeout(r, 1500)); // the last batch of spans
      console.log(`  one hop, traced, at 10/s (p50 ${t.p50.toFixed(2)} ms to the create; median ms after the request began, and duration):`);
      for (const b of hopBreakdown(receiver.spans, /^POST /)) console.log(`    ${b.start.toFixed(1).padStart(6)} +${b.duration.toFixed(1).padStart(5)}  ${b.name} (${b.n})`);
    } finally {
      traced.kill('SIGINT');
      await new Promise((r) => traced.once('exit', r));
      await receiver.close();
    }
  } finally {
    agent.destroy();
    for (const child of [server, floor]) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    await kube.close();
  }
}
