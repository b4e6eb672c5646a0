// The functions as real processes: several instances of each, all spawned from the
// container entry point (`FUNCTION_TARGET=<fn> node dist/functions/server.js`), each on its
// own port. The fleet plays Knative's part too: `pick` routes a request to a live instance,
// a killed instance is restarted on the same port, and an instance that dies without being
// killed is recorded as a crash (and restarted, as Kubernetes would).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/spawn.js';
import type { FunctionName, History } from './history.js';
import { send, sleep } from './net.js';
import type { Rng } from './rng.js';

const PDEATHSIG = process.platform === 'linux' && existsSync('/usr/bin/setpriv');

export class Instance {
  proc: ChildProcess | undefined;
  /** Healthy and not being killed: requests may be routed here. */
  up = false;
  starts = 0;
  kills = 0;
  private expectExit = false;
  constructor(readonly fn: FunctionName, readonly index: number, readonly port: number) {}
  get name(): string {
    return `${this.fn}-${this.index}`;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** @internal */ expecting(v: boolean): void {
    this.expectExit = v;
  }
  /** @internal */ get expected(): boolean {
    return this.expectExit;
  }
}

export interface FleetOptions {
  readonly entry: string;
  readonly env: Record<string, string>;
  readonly counts: Readonly<Record<FunctionName, number>>;
  readonly logDir: string;
  readonly history: History;
}

/** The harness's environment minus anything that would point an instance elsewhere. */
export function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith('FACTEUR_') || k.startsWith('DATABASE_') || k.startsWith('KAFKA_') || k === 'KUBECONFIG' || k === 'PORT' || k === 'FUNCTION_TARGET') continue;
    if (k.startsWith('VITEST') || k === 'NODE_OPTIONS' || k === 'TEST' || k === 'NODE_ENV') continue;
    out[k] = v;
  }
  return out;
}

export class Fleet {
  readonly instances: Instance[] = [];
  private readonly logs = new Map<string, WriteStream>();
  private stopping = false;

  private constructor(private readonly opts: FleetOptions) {}

  static async start(opts: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(opts);
    for (const [fn, n] of Object.entries(opts.counts) as [FunctionName, number][]) {
      for (let i = 0; i < n; i++) fleet.instances.push(new Instance(fn, i, await freePort()));
    }
    await Promise.all(fleet.instances.map((inst) => fleet.launch(inst)));
    return fleet;
  }

  of(fn: FunctionName): Instance[] {
    return this.instances.filter((i) => i.fn === fn);
  }

  /** A random live instance of the function, or undefined when none is up right now. */
  pick(fn: FunctionName, rng: Rng | (() => number)): Instance | undefined {
    const live = this.instances.filter((i) => i.fn === fn && i.up);
    if (live.length === 0) return undefined;
    const r = typeof rng === 'function' ? rng() : rng.next();
    return live[Math.floor(r * live.length)];
  }

  /** Waits (bounded) for a live instance of the function. */
  async route(fn: FunctionName, rng: Rng | (() => number), timeoutMs = 60_000): Promise<Instance | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const inst = this.pick(fn, rng);
      if (inst || Date.now() > until || this.stopping) return inst;
      await sleep(50);
    }
  }

  /** SIGKILL, no warning: in-flight requests are cut, nothing is flushed. */
  async kill(inst: Instance): Promise<void> {
    const proc = inst.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    inst.up = false;
    inst.expecting(true);
    inst.kills++;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
  }

  async restart(inst: Instance): Promise<void> {
    if (this.stopping) return;
    await this.launch(inst);
  }

  private log(inst: Instance): WriteStream {
    let s = this.logs.get(inst.name);
    if (!s) {
      s = createWriteStream(join(this.opts.logDir, `${inst.name}.log`), { flags: 'a' });
      this.logs.set(inst.name, s);
    }
    return s;
  }

  /** Starts the instance and waits until it is healthy; a start that fails is retried. */
  private async launch(inst: Instance): Promise<void> {
    for (let tries = 1; !this.stopping; tries++) {
      const began = Date.now();
      const result = await this.launchOnce(inst);
      if (result === 'healthy') return;
      // An entry point that cannot reach the database at start exits (migrations first):
      // during an injected outage that is expected, and Kubernetes would restart it.
      const outage = this.opts.history.during('postgres', began - 1000, Date.now(), 3000);
      if (!outage) this.opts.history.crashes.push(`${inst.name} (start #${inst.starts}) ${result === 'exited' ? 'exited before it was healthy' : 'was not healthy within 60 s'}; see ${join(this.opts.logDir, `${inst.name}.log`)}`);
      if (result === 'timeout') await this.kill(inst);
      if (tries >= 20) throw new Error(`${inst.name} could not be started; see ${this.opts.logDir}`);
      await sleep(300);
    }
  }

  private async launchOnce(inst: Instance): Promise<'healthy' | 'exited' | 'timeout'> {
    inst.starts++;
    inst.expecting(false);
    const log = this.log(inst);
    log.write(`--- start #${inst.starts} at ${new Date().toISOString()}\n`);
    // setpriv execs the entry point with PR_SET_PDEATHSIG: if the harness dies (even by
    // SIGKILL), the kernel kills its instances instead of leaving them running
    const [cmd, ...args] = PDEATHSIG ? ['setpriv', '--pdeathsig', 'KILL', process.execPath, this.opts.entry] : [process.execPath, this.opts.entry];
    const proc = spawn(cmd!, args, {
      env: { ...this.opts.env, FUNCTION_TARGET: inst.fn, PORT: String(inst.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    inst.proc = proc;
    let healthy = false;
    proc.stdout!.pipe(log, { end: false });
    proc.stderr!.pipe(log, { end: false });
    proc.once('exit', (code, signal) => {
      inst.up = false;
      log.write(`--- exit code=${code} signal=${signal} at ${new Date().toISOString()}\n`);
      if (healthy && !inst.expected && !this.stopping) {
        this.opts.history.crashes.push(`${inst.name} (start #${inst.starts}) exited on its own: code=${code} signal=${signal}; see ${join(this.opts.logDir, `${inst.name}.log`)}`);
        void sleep(200).then(() => this.restart(inst)).catch(() => {});
      }
    });
    const until = Date.now() + 60_000;
    while (Date.now() < until && proc.exitCode === null && proc.signalCode === null) {
      const ok = await send(inst.url, { method: 'GET', path: '/healthz', timeoutMs: 2000 }).then((r) => r.status === 200, () => false);
      if (ok && proc.exitCode === null && proc.signalCode === null) {
        healthy = true;
        inst.up = true;
        return 'healthy';
      }
      await sleep(50);
    }
    return proc.exitCode === null && proc.signalCode === null ? 'timeout' : 'exited';
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.instances.map(async (inst) => {
      inst.up = false;
      const proc = inst.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      inst.expecting(true);
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }));
    await Promise.all([...this.logs.values()].map((s) => new Promise<void>((r) => s.end(() => r()))));
  }
}
