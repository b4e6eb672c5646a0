// The Kubernetes side of Argo: create, read, list, stop and delete Workflows through
// @kubernetes/client-node, and the run-token Secret each one needs. Transient failures
// (429, 5xx, network, timeouts) are retried (./kube.ts); what is left is thrown as an error
// that says what to do: RetryableError (try later), NonRetriableError (the request is
// wrong), ConflictError (the name belongs to another run).
//
// A submission is three creates, in this order, each idempotent on its deterministic name:
//   1. the Secret `<workflow>-token` holding the token, marked owner-pending. First, so a
//      pod of the Workflow never starts without its token. AlreadyExists is success once
//      it is known to be this run and attempt's, and its token is made this one;
//   2. the Workflow, as before (AlreadyExists for the same run is success);
//   3. a patch of the Secret: ownerReferences → the Workflow's uid, the mark removed. From
//      then on the garbage collector deletes the Secret with the Workflow.
// A crash after 1 or 2 leaves the run `submitting` (dispatch records it only after all
// this), so the tick submits it again and the same three steps finish the job. Step 3
// failing does not fail the submission (the Workflow runs, with its token); nor does a
// run that left `submitting` some other way get stuck with an ownerless Secret: the
// tick's sweep (`tokens` below, shared/dispatch) adopts every owner-pending Secret whose
// Workflow exists and deletes, after a grace period, those whose run is finished.
import { CoreV1Api, CustomObjectsApi, PatchStrategy, type KubeConfig } from '@kubernetes/client-node';
import type { Secret } from '../config/secret.js';
import { ConflictError, RetryableError, ValidationError } from '../errors/index.js';
import { createCall, kubeConfigFromEnv, statusOf, translate, withKeepAlive, type CallOptions } from './kube.js';
import { buildRunTokenSecret, ownerReference, type RunTokenSecret } from './secret.js';
import { createTokenSecrets, orphanOf, type OrphanToken, type RunTokenSweep } from './token-secrets.js';
import { ANNOTATIONS, LABELS, workflowRef, type Workflow } from './workflow.js';

export { DEFAULT_RETRY, kubeConfigFromEnv, type RetryOptions } from './kube.js';

const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'workflows';

export interface ArgoClientOptions extends CallOptions {
  /** Defaults to `kubeConfigFromEnv()`. */
  readonly kubeConfig?: KubeConfig;
  readonly namespace: string;
  /**
   * A submission still running after this long (its Secret needed retries) asks
   * `guard` for its first Workflow create too; default 200 ms.
   */
  readonly recheckAfterMs?: number;
}

export interface SubmitResult {
  readonly name: string;
  readonly uid: string;
  /** false when the workflow already existed (a re-submit, or a retry of a create that landed). */
  readonly created: boolean;
  /** false when the token's Secret could not be given its owner yet (the tick's sweep will). */
  readonly tokenOwned?: boolean;
}

export interface SubmitOptions {
  /**
   * Wraps every create of the Workflow after the first try (a retry of a 429/5xx, a second
   * round after a collision), and the first too when the submission has already taken a while
   * (`recheckAfterMs`: its Secret's create was retried). `guard(create)` runs `create` only
   * while the run still wants its Workflow and answers false otherwise, which abandons the
   * submission with a SubmissionAbandoned error. While `create` runs, whoever ends the run
   * waits before deleting its Workflow (dispatch: an advisory lock on the name), so a retry
   * that passed the check cannot land after the delete and make the name a second time: a
   * Workflow nobody waits for, running beside the next attempt's (found by `npm run chaos`,
   * seeds 202 and 303, when the check and the create were two steps).
   */
  readonly guard?: (create: () => Promise<void>) => Promise<boolean>;
}

/** The run a submission was for ended while its create was being retried; nothing was created. */
export class SubmissionAbandoned extends Error {
  override readonly name = 'SubmissionAbandoned';
  readonly code = 'submission_abandoned';
}

export type ShutdownMode = 'Stop' | 'Terminate';

export interface ArgoClient {
  readonly namespace: string;
  /**
   * Creates the run-token Secret, the workflow, then makes the workflow the Secret's owner
   * (see the top of this file). AlreadyExists for the same run counts as success.
   */
  submit(workflow: Workflow, token: Secret, options?: SubmitOptions): Promise<SubmitResult>;
  /** undefined when there is no such workflow. */
  get(name: string): Promise<Workflow | undefined>;
  /** true if it was deleted, false if it did not exist. Its Secret goes with it (garbage collection). */
  delete(name: string): Promise<boolean>;
  list(labelSelector?: string): Promise<Workflow[]>;
  /** Sets `spec.shutdown` (Argo stops the run); false if it did not exist. */
  stop(name: string, mode?: ShutdownMode): Promise<boolean>;
  /** The run-token Secrets a crash left without an owner. */
  readonly tokens: RunTokenSweep;
}

export function createArgoClient(options: ArgoClientOptions): ArgoClient {
  const kc = withKeepAlive(options.kubeConfig ?? kubeConfigFromEnv());
  const api = kc.makeApiClient(CustomObjectsApi);
  const defaultNamespace = options.namespace;
  const recheckAfterMs = options.recheckAfterMs ?? 200;
  const withRetry = createCall(options);
  const secrets = createTokenSecrets(kc.makeApiClient(CoreV1Api), withRetry, defaultNamespace);
  const at = (namespace: string) => ({ group: GROUP, version: VERSION, plural: PLURAL, namespace });

  async function get(name: string, namespace = defaultNamespace): Promise<Workflow | undefined> {
    try {
      return (await withRetry(`get workflow ${name}`, (o) => api.getNamespacedCustomObject({ ...at(namespace), name }, o))) as Workflow;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translate(err, `get workflow ${name}`);
    }
  }

  /** Step 2: the Workflow, idempotent on its name. */
  async function createWorkflow(workflow: Workflow, name: string, namespace: string, options: SubmitOptions, since: number): Promise<SubmitResult> {
    const what = `create workflow ${namespace}/${name}`;
    let tries = 0;
    const create = async (o: Parameters<typeof api.createNamespacedCustomObject>[1]) => {
      const once = () => api.createNamespacedCustomObject({ ...at(namespace), body: workflow }, o);
      const guarded = tries++ > 0 || Date.now() - since >= recheckAfterMs;
      if (!guarded || !options.guard) return once();
      let created: unknown;
      if (!(await options.guard(async () => void (created = await once())))) {
        throw new SubmissionAbandoned(`${what}: its run ended while the create was retried; not created`);
      }
      return created;
    };
    // Twice at most: the one we collided with may be deleted before we read it.
    for (let round = 1; round <= 2; round++) {
      try {
        const created = (await withRetry(what, create)) as Workflow;
        return { name, uid: created.metadata?.uid ?? '', created: true };
      } catch (err) {
        if (err instanceof SubmissionAbandoned) throw err;
        if (statusOf(err) !== 409) throw translate(err, what);
      }
      const existing = await get(name, namespace);
      if (existing) {
        assertSameRun(workflow, existing);
        return { name, uid: existing.metadata?.uid ?? '', created: false };
      }
    }
    throw new RetryableError('kubernetes_conflict', `${what}: it exists, then it does not; try again`);
  }

  /** Step 3, best effort: false leaves the Secret owner-pending, for the tick's sweep to adopt. */
  async function giveToWorkflow(secret: RunTokenSecret, namespace: string, workflow: { name: string; uid: string }): Promise<boolean> {
    try {
      return await secrets.own(secret.metadata.name, namespace, ownerReference({ metadata: workflow }), secret);
    } catch {
      return false;
    }
  }

  async function adopt(orphan: OrphanToken): Promise<boolean> {
    const wf = await get(orphan.workflow);
    if (!wf?.metadata.uid) return false;
    const ref = workflowRef(wf);
    if (ref && orphan.runId !== undefined && (ref.runId !== orphan.runId || ref.attempt !== orphan.attempt)) return false;
    await secrets.own(orphan.name, defaultNamespace, ownerReference(wf)); // false: gone meanwhile, nothing left to do
    return true;
  }

  return Object.freeze({
    namespace: defaultNamespace,
    get: (name: string) => get(name),

    async submit(workflow: Workflow, token: Secret, options: SubmitOptions = {}): Promise<SubmitResult> {
      const name = workflow.metadata.name;
      // Idempotency rests on the name: a server-generated one would create twice on a retry.
      if (!name) throw new ValidationError('a workflow needs metadata.name', [{ path: 'metadata.name', message: 'is required' }]);
      const namespace = workflow.metadata.namespace ?? defaultNamespace;
      const secret = buildRunTokenSecret({ ...workflow, metadata: { ...workflow.metadata, namespace } }, token);
      const since = Date.now();
      const createdSecret = await secrets.put(secret); // 1.
      let result: SubmitResult;
      try {
        result = await createWorkflow(workflow, name, namespace, options, since); // 2.
      } catch (err) {
        // Refused for good: no Workflow will ever own the Secret this call made. (A transient
        // failure keeps it: the run stays `submitting` and the tick submits it again.)
        if (createdSecret && !(err instanceof RetryableError)) await secrets.remove(secret.metadata.name, namespace).catch(() => false);
        throw err;
      }
      const tokenOwned = await giveToWorkflow(secret, namespace, { name, uid: result.uid }); // 3.
      return { ...result, tokenOwned };
    },

    async delete(name: string): Promise<boolean> {
      try {
        await withRetry(`delete workflow ${name}`, (o) => api.deleteNamespacedCustomObject({ ...at(defaultNamespace), name }, o));
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw translate(err, `delete workflow ${name}`);
      }
    },

    async list(labelSelector?: string): Promise<Workflow[]> {
      try {
        const list = (await withRetry('list workflows', (o) =>
          api.listNamespacedCustomObject({ ...at(defaultNamespace), ...(labelSelector ? { labelSelector } : {}) }, o),
        )) as { items?: Workflow[] };
        return list.items ?? [];
      } catch (err) {
        throw translate(err, 'list workflows');
      }
    },

    async stop(name: string, mode: ShutdownMode = 'Terminate'): Promise<boolean> {
      try {
        await withRetry(
          `stop workflow ${name}`,
          (o) => api.patchNamespacedCustomObject({ ...at(defaultNamespace), name, body: { spec: { shutdown: mode } } }, o),
          PatchStrategy.MergePatch,
        );
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw translate(err, `stop workflow ${name}`);
      }
    },

    tokens: Object.freeze({
      async orphans(): Promise<OrphanToken[]> {
        const found = (await secrets.pending(defaultNamespace)).map(orphanOf).filter((o): o is OrphanToken => o !== undefined);
        return found.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
      },
      adopt,
      remove: (orphan: OrphanToken) =>
        secrets.remove(orphan.name, defaultNamespace, { uid: orphan.uid, resourceVersion: orphan.resourceVersion }),
    }),
  });
}

/** A name collision with another run must not pass for "already submitted". */
function assertSameRun(wanted: Workflow, existing: Workflow): void {
  const runOf = (w: Workflow) => [w.metadata?.annotations?.[ANNOTATIONS.runId], w.metadata?.labels?.[LABELS.attempt]];
  const [wantRun, wantAttempt] = runOf(wanted);
  const [hasRun, hasAttempt] = runOf(existing);
  if (wantRun === undefined) return;
  if (wantRun !== hasRun || wantAttempt !== hasAttempt) {
    throw new ConflictError(
      'workflow_name_taken',
      `workflow ${wanted.metadata.name} exists for run ${hasRun ?? '?'} attempt ${hasAttempt ?? '?'}, not run ${wantRun} attempt ${wantAttempt ?? '?'}`,
    );
  }
}
