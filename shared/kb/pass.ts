// The knowledge base's background pass: what the KB does after runs end, off every callback's
// path. Dispatch's tick and events, and local mode's timer, nudge it (shared/background/
// coalesce.ts: one pass at a time, one more when nudged meanwhile, never awaited by the
// nudger); each pass registers the configured embedder's version (until that worked once),
// then runs its steps in order — reflect the backlog, embed what has no vector, then the
// steps other parts hand in (retrieval scoring, preference pairs, the daily trigger, anomaly
// checks). A step that fails is logged and the pass goes on with the next one: each step's
// work stays where it was (the backlog, the unembedded reflections) for the next pass.
import { coalesced } from '../background/coalesce.js';
import { messageOf } from '../errors/index.js';
import type { KbDeps, KbStep } from './deps.js';
import { createEmbedStep } from './embed-step.js';
import { reflectBacklog } from './reflect.js';
import { ensureVersion } from './versions.js';

export interface KbStepReport {
  readonly name: string;
  readonly handled: number;
  readonly ms: number;
  readonly error?: string;
}

export interface KbReport {
  /** The configured version is registered (the first pass to do so, or an earlier one, made it active if none was). */
  readonly versionReady: boolean;
  readonly steps: readonly KbStepReport[];
}

export interface KnowledgeBase {
  /** One pass: every step in order. */
  runOnce(): Promise<KbReport>;
  /** Starts a pass in the background (one at a time; another follows if nudged meanwhile). */
  nudge(): void;
  /** Resolves when no pass is running or pending. */
  idle(): Promise<void>;
}

/** A step and the name the pass's report and logs give it. */
export interface NamedKbStep {
  readonly name: string;
  readonly run: KbStep;
}

export interface KnowledgeBaseOptions {
  /** Steps run after the store's own (reflect, embed), in the order given. */
  readonly steps?: readonly NamedKbStep[];
}

export function createKnowledgeBase(deps: KbDeps, opts: KnowledgeBaseOptions = {}): KnowledgeBase {
  const log = deps.log.child({ component: 'kb' });
  const d: KbDeps = { ...deps, log };
  const embed = createEmbedStep();
  const reflect: KbStep = async (sd) => {
    const runs = await reflectBacklog(sd);
    if (runs > 0) embed.markPending();
    return runs;
  };
  const steps: readonly NamedKbStep[] = [{ name: 'reflect', run: reflect }, { name: 'embed', run: embed.run }, ...(opts.steps ?? [])];
  let versionReady = false;

  async function runOnce(): Promise<KbReport> {
    if (!versionReady) {
      try {
        await ensureVersion(d.sql, d.embedder);
        versionReady = true;
      } catch (err) {
        // reflections are still written; vectors wait until the version is registered
        log.warn('kb: could not register the embedding version; retried at the next pass', { version: d.embedder.version, error: messageOf(err) });
      }
    }
    const reports: KbStepReport[] = [];
    for (const { name, run } of steps) {
      const started = Date.now();
      try {
        const handled = await run(d);
        reports.push({ name, handled, ms: Date.now() - started });
      } catch (err) {
        log.warn('kb: a step of the pass failed; its work waits for the next pass', { step: name, error: messageOf(err) });
        reports.push({ name, handled: 0, ms: Date.now() - started, error: messageOf(err) });
      }
    }
    return { versionReady, steps: reports };
  }

  const background = coalesced(runOnce, log, 'kb: pass failed');
  return { runOnce, nudge: background.nudge, idle: background.idle };
}
