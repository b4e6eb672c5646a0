// The chaos harness: the whole system as real processes under load while things break,
// a recorded history, and invariants checked on it at the end (Jepsen-style).
//
//   PostgreSQL (own cluster, restartable) ─┐
//   kcat mock Kafka cluster (pausable) ────┤
//   fake Kubernetes API (in this process) ─┼── N × intake, dispatch, callbacks, status
//                                          │     (dist/functions/server.js, real processes)
//   KafkaSource doubles, PingSource double, step doubles, hostile requests, fault schedule,
//   limit observer ── all in this process, all seeded.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Sql } from '../../shared/db/index.js';
import { occupancyLine, runSeconds } from './occupancy.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { FaultSchedule, redeliveries, STEP_RATES, type ScheduledFault } from './faults/index.js';
import { baseEnv, Fleet } from './fleet.js';
import { History, type FunctionName, type Limits } from './history.js';
import { installGovernance, VoterDouble } from './governance.js';
import { notifyEnv, startFakeRemotes } from '../notify/fake-remotes.js';
import { startOutages } from './notify.js';
import { HOSTILE_CASES, HostileLoad } from './hostile.js';
import { ideaRecord, planIdeas, TOPICS } from './ideas.js';
import { startBroker, startPostgres, type ControlledBroker, type ControlledPostgres } from './infra.js';
import { checkAll, INVARIANTS, type Invariant, type InvariantResult } from './invariants/index.js';
import { ensureTopics, kafkaClient, KafkaSourceDouble, RecordProducer } from './kafka.js';
import { closeAgent, sleep } from './net.js';
import { LimitObserver } from './observer.js';
import { startFinetunePings, startTicker } from './pings.js';
import { StepRunner } from './steps.js';

export interface ChaosOptions {
  readonly seed: number;
  readonly ideas: number;
  /** Instances of each function (≥ 2). */
  readonly instances: number;
  /** false: the same load without any fault (the baseline). */
  readonly faults: boolean;
  readonly entry?: string;
  readonly repositories?: number;
  /** Ideas in flight (produced, not yet terminal) at most. */
  readonly window?: number;
  readonly faultMeanMs?: number;
  readonly hostileRepeats?: number;
  readonly hostileIntervalMs?: number;
  readonly sampleMs?: number;
  readonly tickMs?: number;
  /** Give up waiting when nothing moved for this long. */
  readonly stallS?: number;
  readonly limits?: Limits;
  readonly heartbeatTimeoutS?: number;
  readonly submitStaleS?: number;
  readonly retryBaseMs?: number;
  readonly invariants?: readonly Invariant[];
  readonly scheduledFaults?: readonly ScheduledFault[];
  readonly log?: (line: string) => void;
  /** Keep the instances' logs even when every invariant holds. */
  readonly keepLogs?: boolean;
  /**
   * The governed load (default on): the chaos repositories under an enforcing pack, binding
   * budgets, runaway spenders, and ideas waiting for the voter double's votes.
   */
  readonly governed?: boolean;
  /**
   * The notifiers on (default on): dispatch's GitHub and Discord notifiers talk to a FAKE of
   * both (test/notify/fake-remotes.ts), which goes down now and then when faults are on.
   */
  readonly notify?: boolean;
}

export interface ChaosReport {
  readonly seed: number;
  readonly mode: 'chaos' | 'baseline';
  readonly ideas: number;
  readonly durationS: number;
  readonly faults: Readonly<Record<string, number>>;
  readonly invariants: readonly InvariantResult[];
  readonly ok: boolean;
  /** The report, one line each: INVARIANT …, then CHAOS …. */
  readonly lines: readonly string[];
  readonly logDir: string | undefined;
  readonly history: History;
}

export const DEFAULT_LIMITS: Limits = {
  global: 32,
  stages: { planning: 8, implementation: 16, review: 6, integration: 5, deploy: 4 },
  repository: 6,
  idea: 2,
};

const TERMINAL = ['completed', 'blocked', 'failed', 'cancelled'];
const STATUS_TOKEN = 'chaos-status-token';

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((line: string) => process.stderr.write(`[chaos] ${line}\n`));
  const mode = o.faults ? 'chaos' : 'baseline';
  const limits = o.limits ?? DEFAULT_LIMITS;
  const h = new History();
  h.limits = limits;
  const work = mkdtempSync(join(tmpdir(), `facteur-chaos-${o.seed}-`));
  const logDir = join(work, 'logs');
  mkdirSync(logDir);
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let keep = true; // the logs stay unless the run ends well
  const cleanup = async () => {
    while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch((err) => log(`cleanup: ${(err as Error).message}`));
  };
  // interrupted: stop the instances, PostgreSQL and the broker before going (a SIGKILL
  // leaves PostgreSQL and kcat behind; the instances die with the harness, see Fleet)
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.once(sig, onSignal);
  cleanups.push(() => signals.forEach((sig) => process.off(sig, onSignal)));
  try {
    log(`seed=${o.seed} mode=${mode} ideas=${o.ideas} instances=${o.instances}×4 governed=${o.governed ?? true} (replay: CHAOS_SEED=${o.seed})`);
    const setupStart = Date.now();
    // the services under the harness's control
    const pg: ControlledPostgres = await startPostgres();
    cleanups.push(() => pg.stop());
    cleanups.push(() => keep && copyFileSync(pg.logFile, join(logDir, 'postgres.log')));
    const broker: ControlledBroker = await startBroker();
    cleanups.push(() => broker.stop());
    const kube: FakeKube = await startFakeKube();
    h.kubeRequests = kube.requests;
    cleanups.push(() => kube.close());
    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(kubeconfig, kube.kubeConfig().exportConfig());
    const kafka = kafkaClient(broker.brokers, 'chaos-harness');
    await ensureTopics(kafka, [TOPICS.intent, TOPICS.codexTasks, TOPICS.completions, TOPICS.events]);

    const remotes = (o.notify ?? true) ? await startFakeRemotes() : undefined;
    h.remotes = remotes;
    cleanups.push(() => remotes?.close());
    const env: Record<string, string> = {
      ...baseEnv(),
      // 2 s per request: a dead instance's lease on a subject ends after 15 s (leaseSeconds)
      ...(remotes ? notifyEnv(remotes, { FACTEUR_DASHBOARD_URL: 'http://facteur.chaos/ui', FACTEUR_NOTIFY_TIMEOUT_MS: '2000' }) : {}),
      NODE_ENV: 'production',
      DATABASE_URL: pg.url, DATABASE_POOL_SIZE: '5', DATABASE_CONNECT_TIMEOUT_S: '3',
      KUBECONFIG: kubeconfig, KAFKA_BROKERS: broker.brokers, KAFKA_CLIENT_ID: 'facteur-chaos',
      FACTEUR_CALLBACK_SECRET: 'chaos-callback-secret', FACTEUR_PUBLIC_URL: 'http://callbacks.facteur.svc.cluster.local',
      FACTEUR_STATUS_TOKEN: STATUS_TOKEN, FACTEUR_LOG_LEVEL: 'warn',
      FACTEUR_HEARTBEAT_TIMEOUT_S: String(o.heartbeatTimeoutS ?? 5), FACTEUR_SUBMIT_STALE_S: String(o.submitStaleS ?? 3),
      FACTEUR_RETRY_BASE_MS: String(o.retryBaseMs ?? 200), FACTEUR_RETRY_MAX_MS: '2000', FACTEUR_MONITOR_WINDOW_S: '0', FACTEUR_MAX_ATTEMPTS: '3',
      FACTEUR_LIMIT_GLOBAL: String(limits.global), FACTEUR_LIMIT_REPOSITORY: String(limits.repository), FACTEUR_LIMIT_IDEA: String(limits.idea),
      // every pair is enough: the trigger is due as soon as the first retry succeeds, and contested from then on
      FACTEUR_KB_FINETUNE_MIN_PAIRS: '1',
      FACTEUR_LIMIT_STAGES: Object.entries(limits.stages).map(([k, v]) => `${k}=${v}`).join(','),
    };
    const counts = { intake: o.instances, dispatch: o.instances, callbacks: o.instances, status: o.instances } satisfies Record<FunctionName, number>;
    const fleet = await Fleet.start({ entry: o.entry ?? 'dist/functions/server.js', env, counts, logDir, history: h });
    cleanups.push(() => fleet.stop());
    const db: Sql = connect(pg.url, { max: 3, connectTimeoutS: 2, applicationName: 'chaos-harness' });
    cleanups.push(() => db.end({ timeout: 2 }));
    // the server log says who waited on whom (kept with the instances' logs)
    await db.unsafe(`alter system set log_lock_waits = on`);
    await db.unsafe(`select pg_reload_conf()`);
    log(`setup ${((Date.now() - setupStart) / 1000).toFixed(1)}s: PostgreSQL ${pg.url}, Kafka ${broker.brokers}, fake Kubernetes ${kube.url}, logs ${logDir}`);

    // the doubles
    const producer = await RecordProducer.start(kafka);
    cleanups.push(() => producer.close());
    const observer = new LimitObserver(pg.url, h, o.sampleMs ?? 5);
    observer.start();
    cleanups.push(() => observer.stop());
    const copies = o.faults ? redeliveries : () => 1;
    const intakeSource = new KafkaSourceDouble({ name: 'intake', groupId: 'facteur-intake', topics: [TOPICS.intent, TOPICS.codexTasks, TOPICS.completions], sink: 'intake', kafka, fleet, history: h, seed: o.seed, copies });
    const eventsSource = new KafkaSourceDouble({ name: 'facteur-events', groupId: 'facteur-dispatch', topics: [TOPICS.events], sink: 'dispatch', kafka, fleet, history: h, seed: o.seed, copies, ownEvents: true });
    await intakeSource.start();
    cleanups.push(() => intakeSource.stop());
    await eventsSource.start();
    cleanups.push(() => eventsSource.stop());
    const steps = new StepRunner({ seed: o.seed, faults: o.faults, rates: STEP_RATES, history: h, fleet, kube, producer });
    steps.attach();
    cleanups.push(() => steps.stop());
    const ticker = startTicker(fleet, h, o.seed, o.tickMs ?? 1000);
    cleanups.push(() => ticker.stop());
    const finetune = startFinetunePings(fleet, h, o.seed);
    cleanups.push(() => finetune.stop());
    // spread over the run: about 150 ms of load per idea
    const repeats = o.hostileRepeats ?? 2;
    const hostileInterval = o.hostileIntervalMs ?? Math.max(20, Math.min(1000, (o.ideas * 150) / Math.max(1, repeats * HOSTILE_CASES.length)));
    const hostile = new HostileLoad({
      seed: o.seed, history: h, fleet, repeats, intervalMs: hostileInterval, statusToken: STATUS_TOKEN,
      activeStep: (rng) => {
        const live = [...steps.active.values()];
        return live.length ? rng.pick(live) : undefined;
      },
    });
    hostile.start();
    cleanups.push(() => hostile.stop());
    const schedule = o.faults
      ? new FaultSchedule({ history: h, fleet, postgres: pg, broker, kube, log, meanIntervalMs: o.faultMeanMs ?? 1500 }, o.seed, o.faultMeanMs ?? 1500, o.scheduledFaults)
      : undefined;
    cleanups.push(() => schedule?.stop());
    const outages = remotes && o.faults ? startOutages(remotes, h, o.seed) : undefined;
    cleanups.push(() => outages?.stop());

    // the load
    const governed = o.governed ?? true;
    const intents = planIdeas(o.seed, { ideas: o.ideas, repositories: o.repositories ?? Math.max(4, Math.min(24, Math.ceil(o.ideas / 4))), faults: o.faults, governed });
    for (const i of intents) h.ideas.set(i.tag, i);
    let voters: VoterDouble | undefined;
    if (governed) {
      await installGovernance(db, [...new Set(intents.map((i) => i.repository))]);
      voters = new VoterDouble({ seed: o.seed, fleet, history: h, db, statusToken: STATUS_TOKEN });
      voters.start();
      cleanups.push(() => voters?.stop());
    }
    const progress = new Progress(db, `Chaos idea c${o.seed}-%`);
    const loadStart = Date.now();
    schedule?.start();
    let produced = 0;
    const producing = (async () => {
      const window = o.window ?? 150;
      for (const intent of intents) {
        while (produced - progress.terminal >= window) await sleep(50);
        const recordId = `idea:${intent.tag}:${randomUUID().slice(0, 8)}`;
        h.produced.set(recordId, { topic: intent.kind === 'codex-task' ? TOPICS.codexTasks : TOPICS.intent, tag: intent.tag, at: Date.now() });
        const rec = ideaRecord(intent, recordId);
        for (let attempt = 1; ; attempt++) {
          try {
            await producer.produce(rec.topic, rec);
            break;
          } catch (err) {
            h.notes.push(`producing ${intent.tag} failed (try ${attempt}): ${(err as Error).message}`);
            await sleep(500);
          }
        }
        produced++;
      }
    })();

    // run until every idea is terminal; faults stop once 90 % are (then the system heals)
    const stallMs = (o.stallS ?? 90) * 1000;
    let lastChange = Date.now();
    let signature = '';
    let lastLog = 0;
    let healing = !schedule;
    for (;;) {
      await sleep(250);
      await progress.poll().catch(() => {});
      const consumedAll = [...h.produced.entries()].every(([id, p]) => !p.tag || progress.consumed(h, id));
      const done = produced === intents.length && consumedAll && intakeSource.pending === 0 && progress.terminal >= progress.total && progress.total > 0;
      if (!healing && ((produced === intents.length && progress.terminal >= 0.9 * intents.length) || done)) {
        healing = true;
        log(`${h.elapsed().toFixed(0)}s: stopping faults (${progress.terminal}/${intents.length} terminal), letting the system heal`);
        await schedule!.stop();
      }
      const sig = `${produced}/${progress.terminal}/${h.steps.size}/${h.records.size}/${h.events.size}/${h.hostile.length}`;
      if (sig !== signature) {
        signature = sig;
        lastChange = Date.now();
      }
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`${h.elapsed().toFixed(0)}s: produced ${produced}/${intents.length}, terminal ${progress.terminal} (${progress.summary()}), runs ${h.steps.size}, active ${observerActive(h)}, faults ${Object.values(h.faults).reduce((a, b) => a + b, 0)}, hostile ${h.hostile.length}`);
      }
      if (done && healing) break;
      if (Date.now() - lastChange > stallMs) {
        log(`nothing moved for ${o.stallS ?? 90}s: checking what there is (${progress.terminal}/${progress.total} terminal)`);
        break;
      }
    }
    await producing.catch(() => {});
    if (schedule && !healing) await schedule.stop();
    await outages?.stop();
    // drain: the outbox published and consumed, deliveries answered — every row, also those a
    // killed relay still leases (its 60 s lease ends and the tick relays them), within 75 s
    const drain = async () => {
      const drainUntil = Date.now() + Math.min(stallMs, 75_000);
      while (Date.now() < drainUntil) {
        const [row] = await db<{ unsent: number; sent: string[] }[]>`
          select count(*) filter (where sent_at is null)::int as unsent,
                 coalesce(array_agg(event_id::text) filter (where sent_at is not null), '{}') as sent from codex_kb.outbox`.catch(() => [{ unsent: 1, sent: [] }]);
        if (row!.unsent === 0 && row!.sent.every((id) => h.events.get(id)?.delivered) && eventsSource.pending === 0 && intakeSource.pending === 0) break;
        await sleep(250);
      }
    };
    await drain();
    // the notifiers catch up (the ticker still runs): nothing pending in their ledger; a
    // subject a killed instance held waits for its lease to end (15 s here)
    const notifyUntil = Date.now() + 45_000;
    while (remotes && Date.now() < notifyUntil) {
      const [n] = await db<{ pending: number }[]>`select count(*)::int as pending from codex_kb.notify_deliveries where state = 'pending'`.catch(() => [{ pending: 1 }]);
      if (n!.pending === 0) break;
      await sleep(250);
    }
    // the knowledge base's pass catches up: every ended run reflected on
    const kbUntil = Date.now() + 30_000;
    while (Date.now() < kbUntil) {
      const [n] = await db<{ left: number }[]>`select count(*)::int as left from codex_kb.kb_backlog`.catch(() => [{ left: 1 }]);
      if (n!.left === 0) break;
      await sleep(250);
    }
    // a last fine-tune volley once every pair is made: the day's trigger must have fired by its end
    await finetune.stop();
    await finetune.volley();
    h.finetune.finalVolleyAt = new Date();
    // what came since (the volley's event, the pass's last writes) is published too
    await drain();
    const durationS = (Date.now() - loadStart) / 1000;
    log(`load done in ${durationS.toFixed(1)}s; stopping the doubles and the instances`);
    // stop everything that writes, then check
    await hostile.stop();
    await voters?.stop();
    if (hostile.unsent) h.notes.push(`${hostile.unsent} hostile requests not sent before the load ended`);
    await ticker.stop();
    await steps.stop();
    await intakeSource.stop();
    await eventsSource.stop();
    await observer.stop();
    await fleet.stop();
    const invariants = await checkAll(h, db, o.invariants ?? INVARIANTS);
    const ok = invariants.every((i) => i.violations === 0);
    const lines: string[] = [];
    for (const inv of invariants) {
      lines.push(`INVARIANT ${inv.name}=${inv.violations}${inv.info ? `  (${inv.info})` : ''}`);
      for (const ex of inv.examples) lines.push(`  - ${ex}`);
    }
    lines.push(`STATS answers ${JSON.stringify(h.statuses)}`);
    lines.push(occupancyLine(await runSeconds(db).catch(() => []), h.limits.global));
    if (h.notes.length) lines.push(`STATS notes ${h.notes.length}: ${h.notes.slice(0, 5).join(' | ')}`);
    const faults = Object.fromEntries(Object.entries(h.faults).sort(([a], [b]) => a.localeCompare(b)));
    lines.push(`CHAOS seed=${o.seed} mode=${mode} ideas=${o.ideas} instances=${o.instances} faults=${JSON.stringify(faults)} duration=${durationS.toFixed(1)}s`);
    keep = !ok || !!o.keepLogs;
    return { seed: o.seed, mode, ideas: o.ideas, durationS, faults, invariants, ok, lines, logDir: keep ? logDir : undefined, history: h };
  } finally {
    await cleanup();
    closeAgent();
    // a failing run keeps the instances' logs (the report names the directory)
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

function observerActive(h: History): string {
  const l = h.limits;
  return Object.entries(h.maxSeen).filter(([k]) => k === 'global').map(([, v]) => `max ${v}/${l.global}`).join('') || '-';
}

/** Idea counts by status (the harness's ideas), polled. */
class Progress {
  terminal = 0;
  total = 0;
  private byStatus: Record<string, number> = {};
  private consumedIds: Set<string> | undefined;
  private consumedAt = 0;
  constructor(private readonly db: Sql, private readonly titleLike: string) {}
  async poll(): Promise<void> {
    const rows = await this.db<{ status: string; n: number }[]>`
      select status, count(*)::int as n from codex_kb.ideas where title like ${this.titleLike} group by status`;
    this.byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    this.total = rows.reduce((s, r) => s + r.n, 0);
    this.terminal = rows.filter((r) => TERMINAL.includes(r.status)).reduce((s, r) => s + r.n, 0);
  }
  summary(): string {
    return Object.entries(this.byStatus).map(([k, v]) => `${k} ${v}`).join(', ');
  }
  consumed(h: History, recordId: string): boolean {
    if (!this.consumedIds || Date.now() - this.consumedAt > 200) {
      this.consumedIds = new Set([...h.records.values()].map((r) => r.recordId).filter((x): x is string => !!x));
      this.consumedAt = Date.now();
    }
    return this.consumedIds.has(recordId);
  }
}

