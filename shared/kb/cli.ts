// `npm run kb -- <command>`: the knowledge base's operator commands.
//
//   reembed --to <version> [--batch N] [--no-promote]
//       embeds every reflection under <version> (resumable: run it again after a crash),
//       builds its index, then asks the promotion gate (recall@k on the labeled set);
//   promote --kind embedding|prompt|model --candidate <name> [--faithfulness X]
//           [--baseline-faithfulness X] [--recall X] [--baseline-recall X]
//       the gate alone: promoted at delta >= 0, refused otherwise (exit 1), recorded either way.
//
// Progress: a bar redrawn in place on a terminal, one plain line per batch otherwise (a log
// file or a CI job's output stays readable).
import { parseArgs } from 'node:util';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import type { Logger } from '../log/index.js';
import type { Embedder } from './embed/types.js';
import { promote, type PromotionKind, type PromotionDecision } from './promote.js';
import { embedderResolver, runReembed, type ReembedProgress } from './reembed.js';

export interface KbCliDeps {
  readonly sql: Sql;
  readonly log: Logger;
  readonly config: Pick<Config, 'kbLearn'>;
  /** The configured embedder (FACTEUR_EMBEDDINGS_*), when there is one besides the embedded default. */
  readonly configured?: Embedder;
  readonly out: { write(s: string): unknown; isTTY?: boolean };
}

const USAGE = `usage: kb reembed --to <version> [--batch N] [--no-promote]
       kb promote --kind embedding|prompt|model --candidate <name> [--faithfulness X] [--baseline-faithfulness X] [--recall X] [--baseline-recall X]
`;

export function progressLine(p: ReembedProgress, tty: boolean): string {
  const pct = p.total ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 100;
  if (!tty) return `reembed: ${p.phase} ${p.done}/${p.total} (${pct}%)${p.batch ? ` +${p.batch}` : ''}\n`;
  const width = 30;
  const full = Math.round((pct / 100) * width);
  return `\r[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(pct).padStart(3)}% ${p.done}/${p.total} ${p.phase.padEnd(9)}${p.phase === 'done' ? '\n' : ''}`;
}

const describe = (d: PromotionDecision) =>
  `${d.kind} ${d.candidate}: ${d.decision.toUpperCase()} against ${d.baseline ?? '(none active)'}, delta ${d.delta} ${JSON.stringify(d.metrics)}\n`;

function score(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x > 1) throw new Error(`--${name} must be a number from 0 to 1`);
  return x;
}

export async function runKbCli(argv: readonly string[], deps: KbCliDeps): Promise<number> {
  const [cmd, ...rest] = argv;
  const resolve = embedderResolver(deps.configured);
  const gate = { sql: deps.sql, k: deps.config.kbLearn.promotionK, embedderFor: resolve };
  const requestedBy = `cli:${process.env.USER ?? 'operator'}`.slice(0, 100);
  try {
    if (cmd === 'reembed') {
      const { values } = parseArgs({ args: [...rest], options: { to: { type: 'string' }, batch: { type: 'string' }, 'no-promote': { type: 'boolean' } }, strict: true });
      if (!values.to) throw new Error('--to <version> is required');
      const embedder = resolve(values.to);
      if (!embedder) throw new Error(`no embedder makes ${values.to}: the embedded default is local-hash-<dimensions>-v1; another version needs its provider configured (FACTEUR_EMBEDDINGS_*)`);
      const batch = values.batch ? Number(values.batch) : deps.config.kbLearn.reembedBatch;
      if (!Number.isInteger(batch) || batch < 1 || batch > 5000) throw new Error('--batch must be an integer from 1 to 5000');
      const tty = deps.out.isTTY === true;
      const job = await runReembed({ sql: deps.sql, log: deps.log, embedder, batch }, (p) => deps.out.write(progressLine(p, tty)));
      deps.out.write(`reembed: ${job.toVersion} ${job.state}, ${job.done} reflections (from ${job.fromVersion ?? 'none'})\n`);
      if (values['no-promote']) return 0;
      const d = await promote(gate, { kind: 'embedding', candidate: job.toVersion, requestedBy });
      deps.out.write(describe(d));
      return d.decision === 'promoted' ? 0 : 1;
    }
    if (cmd === 'promote') {
      const { values } = parseArgs({
        args: [...rest], strict: true,
        options: { kind: { type: 'string' }, candidate: { type: 'string' }, faithfulness: { type: 'string' }, 'baseline-faithfulness': { type: 'string' }, recall: { type: 'string' }, 'baseline-recall': { type: 'string' } },
      });
      if (!['embedding', 'prompt', 'model'].includes(values.kind ?? '')) throw new Error('--kind must be embedding, prompt or model');
      if (!values.candidate) throw new Error('--candidate <name> is required');
      const d = await promote(gate, {
        kind: values.kind as PromotionKind, candidate: values.candidate, requestedBy,
        faithfulness: score(values.faithfulness, 'faithfulness'), baselineFaithfulness: score(values['baseline-faithfulness'], 'baseline-faithfulness'),
        recall: score(values.recall, 'recall'), baselineRecall: score(values['baseline-recall'], 'baseline-recall'),
      });
      deps.out.write(describe(d));
      return d.decision === 'promoted' ? 0 : 1;
    }
    deps.out.write(USAGE);
    return 2;
  } catch (err) {
    deps.out.write(`kb ${cmd ?? ''}: ${(err as Error).message}\n`);
    return 2;
  }
}
