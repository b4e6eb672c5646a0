// The learning loop's routes in the status API (spread into shared/status/routes.ts): the
// preference-pair dataset, re-embedding and the promotion gate. Exporting pairs is an
// operator's (they quote runs' outputs); re-embedding and promoting change what every later
// run is given, so they are an admin's.
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { parseJsonWith } from '../validation/index.js';
import type { Embedder } from './embed/types.js';
import { exportPairs, parsePairQuery } from './pairs-export.js';
import { configuredEmbedder } from './embed/index.js';
import { promote } from './promote.js';
import { embedderResolver, getReembedJob, runReembed, startReembed } from './reembed.js';

export interface KbLearnRouteDeps {
  readonly sql: Sql;
  readonly log: Logger;
  readonly config: Pick<Config, 'kbLearn'>;
  /** The configured embedder (FACTEUR_EMBEDDINGS_*), when the process has one besides the embedded default. */
  readonly kbEmbedder?: Embedder;
}
type Ctx = RouteContext<KbLearnRouteDeps>;

const VERSION = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be an embedding version name: [a-z0-9][a-z0-9._-]*, at most 63 characters');
const reembedBody = z.strictObject({ to: VERSION, promote: z.boolean().optional() });
const score = z.number().min(0).max(1);
const promotionBody = z.strictObject({
  kind: z.enum(['embedding', 'prompt', 'model']),
  candidate: z.string().min(1).max(200).regex(/^[^\u0000-\u001f\u007f]+$/, 'must be printable'),
  faithfulness: score.optional(),
  baselineFaithfulness: score.optional(),
  recall: score.optional(),
  baselineRecall: score.optional(),
});

/** The process's configured embedder: handed in, else the one the whole config names (the status function's config carries kbStore). */
const configuredOf = (deps: KbLearnRouteDeps): Embedder | undefined =>
  deps.kbEmbedder ?? ('kbStore' in deps.config ? configuredEmbedder(deps.config as Pick<Config, 'kbStore'>) : undefined);

const gateOf = (deps: KbLearnRouteDeps) => ({ sql: deps.sql, k: deps.config.kbLearn.promotionK, embedderFor: embedderResolver(configuredOf(deps)) });

export const KB_LEARN_ROUTES: readonly Route<KbLearnRouteDeps>[] = Object.freeze([
  route('GET', '/v1/kb/preference-pairs', 'operator', 'preference pairs (review loops, retries) as JSONL (application/x-ndjson), oldest first; ?since=<ISO instant>&limit=&cursor= (next page: the x-next-cursor header)',
    async ({ deps, req }: Ctx) => {
      const page = await exportPairs(deps.sql, parsePairQuery(req.query));
      return { status: 200, headers: { 'content-type': 'application/x-ndjson; charset=utf-8', ...(page.nextCursor ? { 'x-next-cursor': page.nextCursor } : {}) }, body: page.jsonl };
    }),
  route('POST', '/v1/kb/reembed', 'admin', 're-embed every reflection under a version: {"to":"<version>","promote"?:true}; answers 202 with the job (resumable: POST again after a crash), then the promotion gate unless promote is false',
    async ({ deps, req, principal }: Ctx) => {
      const body = parseJsonWith(req.body, reembedBody, 're-embed request');
      const embedder = embedderResolver(configuredOf(deps))(body.to);
      if (!embedder) throw new ValidationError(`no embedder makes ${body.to}`, [{ path: 'to', message: 'the embedded default is local-hash-<dimensions>-v1; another version needs its provider configured (FACTEUR_EMBEDDINGS_*)' }]);
      const job = await startReembed(deps.sql, embedder);
      // the work goes on after the answer; a crash leaves the cursor, the next POST resumes
      void runReembed({ sql: deps.sql, log: deps.log, embedder, batch: deps.config.kbLearn.reembedBatch })
        .then(async (done) => (body.promote === false ? undefined : promote(gateOf(deps), { kind: 'embedding', candidate: done.toVersion, requestedBy: principal.actor })))
        .catch((err) => deps.log.warn('kb: re-embed stopped', { version: body.to, err }));
      return json(202, job);
    }),
  route('GET', '/v1/kb/reembed/{version}', 'operator', 'one re-embed job: state, reflections done of total, cursor', async ({ deps, params }: Ctx) => {
    const version = VERSION.safeParse(params.version);
    if (!version.success) throw new ValidationError('invalid version', [{ path: 'version', message: version.error.issues[0]!.message }]);
    const job = await getReembedJob(deps.sql, version.data);
    if (!job) throw new NotFoundError(`no re-embed job for ${version.data}`);
    return json(200, job);
  }),
  route('POST', '/v1/kb/promotions', 'admin', 'the promotion gate: {"kind":"embedding"|"prompt"|"model","candidate":"…","faithfulness"?:0..1,"baselineFaithfulness"?,"recall"?,"baselineRecall"?}; promoted only at delta >= 0, refused otherwise, recorded either way',
    async ({ deps, req, principal }: Ctx) => {
      const body = parseJsonWith(req.body, promotionBody, 'promotion request');
      return json(200, await promote(gateOf(deps), { ...body, requestedBy: principal.actor }));
    }),
]);
