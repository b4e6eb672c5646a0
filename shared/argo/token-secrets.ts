// The run-token Secrets in Argo's namespace, through client-node's CoreV1Api with the same
// keep-alive agent, timeout and retries as the Workflow calls (./kube.ts). The order of a
// submission that uses these is in ./client.ts.
import { PatchStrategy, type CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { ConflictError, RetryableError } from '../errors/index.js';
import { statusOf, translate, type Call } from './kube.js';
import { OWNER_PENDING, TOKEN_COMPONENT, TOKEN_KEY, WORKFLOW_ANNOTATION, type OwnerReference, type RunTokenSecret } from './secret.js';
import { ANNOTATIONS, LABELS } from './workflow.js';

/** A run-token Secret that no Workflow owns yet. */
export interface OrphanToken {
  /** The Secret's name. */
  readonly name: string;
  /** The Workflow it was created for. */
  readonly workflow: string;
  readonly runId: string | undefined;
  readonly attempt: number | undefined;
  readonly createdAt: Date | undefined;
  /** What it was when listed: a delete only goes through if it has not changed since. */
  readonly uid: string;
  readonly resourceVersion: string;
}

/** What the dispatch tick needs to heal a crash in the middle of a submission. */
export interface RunTokenSweep {
  /** Run-token Secrets still marked owner-pending, oldest first. */
  orphans(): Promise<OrphanToken[]>;
  /** Makes the orphan's Workflow its owner; false when there is no such Workflow (or it is another run's). */
  adopt(orphan: OrphanToken): Promise<boolean>;
  /** Deletes the orphan unless it changed since it was listed (adopted, say); false when nothing was deleted. */
  remove(orphan: OrphanToken): Promise<boolean>;
}

export interface TokenSecrets {
  /** Creates the Secret; if it exists for the same run and attempt, makes its token this one. true if created. */
  put(secret: RunTokenSecret): Promise<boolean>;
  /**
   * Sets the owner and drops the owner-pending mark. If the Secret is gone, re-creates
   * `recreate` owned from the start when given; else answers false.
   */
  own(name: string, namespace: string, owner: OwnerReference, recreate?: RunTokenSecret): Promise<boolean>;
  /** The owner-pending ones. */
  pending(namespace: string): Promise<RunTokenSecret[]>;
  /** false when it did not exist, or no longer matched the preconditions. */
  remove(name: string, namespace: string, preconditions?: { uid: string; resourceVersion: string }): Promise<boolean>;
}

export function createTokenSecrets(api: CoreV1Api, call: Call, defaultNamespace: string): TokenSecrets {
  async function read(name: string, namespace: string): Promise<RunTokenSecret | undefined> {
    try {
      return (await call(`get secret ${namespace}/${name}`, (o) => api.readNamespacedSecret({ name, namespace }, o))) as unknown as RunTokenSecret;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translate(err, `get secret ${namespace}/${name}`);
    }
  }

  async function patch(name: string, namespace: string, body: object, what: string): Promise<void> {
    await call(what, (o) => api.patchNamespacedSecret({ name, namespace, body }, o), PatchStrategy.MergePatch);
  }

  async function create(secret: RunTokenSecret, namespace: string): Promise<void> {
    await call(`create secret ${namespace}/${secret.metadata.name}`, (o) =>
      api.createNamespacedSecret({ namespace, body: secret as unknown as V1Secret }, o),
    );
  }

  return {
    async put(secret) {
      const name = secret.metadata.name;
      const namespace = secret.metadata.namespace ?? defaultNamespace;
      const what = `create secret ${namespace}/${name}`;
      // Twice at most: the one we collided with may be deleted before we read it.
      for (let round = 1; round <= 2; round++) {
        try {
          await create(secret, namespace);
          return true;
        } catch (err) {
          if (statusOf(err) !== 409) throw translate(err, what);
        }
        const existing = await read(name, namespace);
        if (!existing) continue;
        assertSameRun(secret, existing);
        // Same name, so same run and attempt; a different token means the server secret
        // was rotated since: the step must get the token the callbacks function now expects.
        if (existing.data?.[TOKEN_KEY] !== secret.data[TOKEN_KEY]) {
          try {
            await patch(name, namespace, { data: { [TOKEN_KEY]: secret.data[TOKEN_KEY] } }, `update secret ${namespace}/${name}`);
          } catch (err) {
            throw translate(err, `update secret ${namespace}/${name}`);
          }
        }
        return false;
      }
      throw new RetryableError('kubernetes_conflict', `${what}: it exists, then it does not; try again`);
    },

    async own(name, namespace, owner, recreate) {
      const what = `set the owner of secret ${namespace}/${name}`;
      try {
        // A merge patch: the list is replaced (Facteur's Secrets have no other owner) and the mark removed.
        await patch(name, namespace, { metadata: { ownerReferences: [owner], labels: { [OWNER_PENDING]: null } } }, what);
        return true;
      } catch (err) {
        if (statusOf(err) !== 404) throw translate(err, what);
        if (!recreate) return false;
      }
      // Deleted under us (by hand, most likely): the Workflow exists now, so it can be owned from the start.
      const labels = { ...recreate.metadata.labels };
      delete labels[OWNER_PENDING];
      try {
        await create({ ...recreate, metadata: { ...recreate.metadata, labels, ownerReferences: [owner] } }, namespace);
      } catch (err) {
        if (statusOf(err) !== 409) throw translate(err, `re-create secret ${namespace}/${name}`);
      }
      return true;
    },

    async pending(namespace) {
      const labelSelector = `${LABELS.component}=${TOKEN_COMPONENT},${LABELS.managedBy}=facteur,${OWNER_PENDING}`;
      try {
        const list = await call('list run-token secrets', (o) => api.listNamespacedSecret({ namespace, labelSelector }, o));
        return (list.items ?? []) as unknown as RunTokenSecret[];
      } catch (err) {
        throw translate(err, 'list run-token secrets');
      }
    },

    async remove(name, namespace, preconditions) {
      const what = `delete secret ${namespace}/${name}`;
      try {
        await call(what, (o) => api.deleteNamespacedSecret({ name, namespace, ...(preconditions ? { body: { preconditions } } : {}) }, o));
        return true;
      } catch (err) {
        // 409: the precondition failed, it changed since it was read
        if (statusOf(err) === 404 || statusOf(err) === 409) return false;
        throw translate(err, what);
      }
    },
  };
}

/** What a listed Secret says about itself, as the sweep needs it. */
export function orphanOf(secret: RunTokenSecret): OrphanToken | undefined {
  const m = secret.metadata;
  const workflow = m.annotations?.[WORKFLOW_ANNOTATION];
  if (!m.name || !workflow || !m.uid || !m.resourceVersion) return undefined;
  const attempt = Number(m.labels?.[LABELS.attempt]);
  const created = m.creationTimestamp === undefined ? undefined : new Date(m.creationTimestamp);
  return {
    name: m.name,
    workflow,
    runId: m.annotations?.[ANNOTATIONS.runId],
    attempt: Number.isSafeInteger(attempt) ? attempt : undefined,
    createdAt: created && !Number.isNaN(created.getTime()) ? created : undefined,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
  };
}

/** A name collision with another run must not pass for "already created". */
function assertSameRun(wanted: RunTokenSecret, existing: RunTokenSecret): void {
  const runOf = (s: RunTokenSecret) => [s.metadata?.annotations?.[ANNOTATIONS.runId], s.metadata?.labels?.[LABELS.attempt]];
  const [wantRun, wantAttempt] = runOf(wanted);
  const [hasRun, hasAttempt] = runOf(existing);
  if (wantRun !== hasRun || wantAttempt !== hasAttempt) {
    throw new ConflictError(
      'secret_name_taken',
      `secret ${wanted.metadata.name} exists for run ${hasRun ?? '?'} attempt ${hasAttempt ?? '?'}, not run ${wantRun ?? '?'} attempt ${wantAttempt ?? '?'}`,
    );
  }
}
