// What the WorkflowTemplate (or local mode's runner) decoded into $FACTEUR_INPUT_DIR: the
// event body dispatch built for this run (shared/dispatch `eventBody`), the intent anchor and
// the retrieved context. Read defensively: the body is checked for the fields the stages use,
// and names that become branches or paths are checked again here, since a step must never
// trust what reached it through a file.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors/index.js';
import { gitBranch } from '../validation/refs.js';

const ref = z.object({ key: z.string().min(1).max(200), branch: gitBranch });

const eventBodySchema = z.looseObject({
  stage: z.enum(['planning', 'implementation', 'review', 'integration', 'deploy']),
  ideaId: z.string().min(1).max(100),
  ideaTitle: z.string().max(2000).default(''),
  taskKey: z.string().min(1).max(200),
  title: z.string().max(2000).default(''),
  description: z.string().max(1_000_000).default(''),
  prompt: z.string().max(1_000_000).nullable().optional(),
  acceptanceCriteria: z.array(z.string().max(4000)).max(500).nullable().optional(),
  paths: z.array(z.string().max(4096)).max(500).nullable().optional(),
  attempt: z.number().int().min(1).optional(),
  repository: z.string().min(1).max(500),
  branch: gitBranch,
  base: gitBranch,
  dependencies: z.array(ref).max(500).optional(),
  implementation: z
    .array(z.looseObject({ key: z.string().min(1).max(200), branch: gitBranch, title: z.string().max(2000).default(''), state: z.string().max(50).default('') }))
    .max(1000)
    .optional(),
  reviewContext: z.unknown().optional(),
  reviewCycle: z.number().int().optional(),
});

export type EventBody = z.output<typeof eventBodySchema>;

export interface RunInputs {
  readonly body: EventBody;
  readonly intentAnchor: string;
  readonly retrievedContext: string;
}

async function optionalText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

export async function readInputs(dir: string): Promise<RunInputs> {
  const raw = await optionalText(join(dir, 'event-body.json'));
  let json: unknown;
  try {
    json = JSON.parse(raw || '{}');
  } catch (err) {
    throw new ValidationError('event-body.json is not JSON', [{ path: 'event-body.json', message: (err as Error).message }], 'invalid_input');
  }
  const parsed = eventBodySchema.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(
      'event-body.json lacks what facteur-agent needs',
      parsed.error.issues.map((i) => ({ path: ['event-body', ...i.path.map(String)].join('.'), message: i.message })),
      'invalid_input',
    );
  }
  return {
    body: parsed.data,
    intentAnchor: await optionalText(join(dir, 'intent-anchor.md')),
    retrievedContext: await optionalText(join(dir, 'retrieved-context.md')),
  };
}
