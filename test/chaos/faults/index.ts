// The fault registry. Scheduled faults are injected by the seeded fault schedule at
// random moments (each a module: name, weight, inject); inline faults are decided by the
// doubles as they go (a redelivery, a dropped or duplicated callback, a step killed
// mid-run), at the rates below. Every injected fault is counted by name in the history.
// To add one: write a module exporting a ScheduledFault and list it in SCHEDULED_FAULTS.
import type { FakeKube } from '../../helpers/fake-kube.js';
import type { Fleet } from '../fleet.js';
import type { History } from '../history.js';
import type { ControlledBroker, ControlledPostgres } from '../infra.js';
import { sleep } from '../net.js';
import { rngFor, type Rng } from '../rng.js';
import type { StepRates } from '../steps.js';
import { kubeCreateUnacked } from './kube-create-unacked.js';
import { kubeFailure } from './kube-failure.js';
import { killInstance } from './kill-instance.js';
import { pauseBroker } from './pause-broker.js';
import { restartPostgres } from './restart-postgres.js';

export interface FaultContext {
  readonly history: History;
  readonly fleet: Fleet;
  readonly postgres: ControlledPostgres;
  readonly broker: ControlledBroker;
  readonly kube: FakeKube;
  readonly log: (line: string) => void;
  /** The schedule's mean time between faults (faults that stop everything space themselves by it). */
  readonly meanIntervalMs: number;
}

export interface ScheduledFault {
  readonly name: string;
  /** Relative frequency in the schedule. */
  readonly weight: number;
  /** At most one injection of this fault at a time (a second one is skipped). */
  readonly exclusive?: boolean;
  /** Injects the fault and resolves once everything it broke is back (or left to heal). */
  inject(ctx: FaultContext, rng: Rng): Promise<void>;
}

export const SCHEDULED_FAULTS: readonly ScheduledFault[] = [killInstance, restartPostgres, pauseBroker, kubeFailure, kubeCreateUnacked];

/** Rates of the faults the doubles decide inline (per step attempt, per delivered record). */
export const STEP_RATES: StepRates = { kill: 0.04, fail: 0.04, drop: 0.04, duplicate: 0.06, argoReport: 0.5, zombie: 0.3 };

/** Concurrent deliveries of one record: 1–5 (half of the records once, the rest 2–5). */
export function redeliveries(rng: Rng): number {
  return rng.chance(0.5) ? 1 : rng.int(2, 5);
}

/**
 * The seeded schedule: a first pass through every fault in a seeded order (so even a
 * short run sees each kind), then faults picked by weight, exponentially spaced.
 */
export class FaultSchedule {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly running = new Set<Promise<void>>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly ctx: FaultContext,
    private readonly seed: number,
    private readonly meanIntervalMs: number,
    private readonly faults: readonly ScheduledFault[] = SCHEDULED_FAULTS,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const rng = rngFor(this.seed, 'schedule');
    const first = rng.shuffle(this.faults);
    for (let n = 0; !this.stopped; n++) {
      await sleep(rng.exp(this.meanIntervalMs));
      if (this.stopped) break;
      const fault = n < first.length ? first[n]! : rng.weighted(this.faults.map((f) => [f, f.weight] as const));
      if (fault.exclusive && this.busy.has(fault.name)) continue;
      this.busy.add(fault.name);
      const p = fault
        .inject(this.ctx, rngFor(this.seed, 'fault', n))
        .catch((err) => void this.ctx.history.notes.push(`fault ${fault.name} #${n} failed: ${(err as Error).message}`))
        .finally(() => {
          this.busy.delete(fault.name);
          this.running.delete(p);
        });
      this.running.add(p);
    }
  }

  /** Stops injecting and waits until every fault in progress has been undone. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.allSettled([...this.running]);
  }
}
