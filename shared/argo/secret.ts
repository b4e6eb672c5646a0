// The Kubernetes Secret that carries one run attempt's callback token to its step.
//
// The token used to travel as a Workflow parameter, readable by anyone allowed to list
// Workflows (and shown by the Argo UI). Now the Workflow holds no token at all: dispatch
// creates this Secret beside it, named after the Workflow, and the WorkflowTemplates mount
// `{{workflow.name}}-token` read-only into the step (knative/workflow-templates/). Once the
// Workflow exists, the Secret names it as its owner, so the garbage collector deletes it
// with the Workflow. Until then it carries the `owner-pending` label, the index the
// dispatch tick uses to find Secrets a crash left without an owner.
import { Secret as SecretValue } from '../config/secret.js';
import { ValidationError, type Issue } from '../errors/index.js';
import { isDnsSubdomain } from './names.js';
import { ANNOTATIONS, LABELS, type Workflow } from './workflow.js';
import { deepFreeze } from '../validation/freeze.js';

/** The key of the token in the Secret's data: the file name under the mount. */
export const TOKEN_KEY = 'token';
/** Where the templates mount the Secret; the step reads `${TOKEN_DIR}/${TOKEN_KEY}`. */
export const TOKEN_DIR = '/var/run/facteur/token';
export const TOKEN_FILE = `${TOKEN_DIR}/${TOKEN_KEY}`;
/** `app.kubernetes.io/component` of every run-token Secret (the sweep selects on it). */
export const TOKEN_COMPONENT = 'run-token';
/** Set on a Secret no Workflow owns yet; removed by the patch that sets the owner. */
export const OWNER_PENDING = 'facteur.dev/owner-pending';
export const WORKFLOW_ANNOTATION = 'facteur.dev/workflow';

// Printable ASCII: it goes into an HTTP header (`Authorization: Bearer …`).
const TOKEN = /^[\x21-\x7e]{1,4096}$/;

export interface OwnerReference {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'Workflow';
  name: string;
  uid: string;
  /** The Workflow may be deleted at once; the garbage collector removes the Secret after. */
  blockOwnerDeletion: false;
}

/** The part of a v1 Secret Facteur writes and reads; the API returns more. */
export interface RunTokenSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  type: 'Opaque';
  data: { [TOKEN_KEY]: string };
}

/** `<workflow>-token`: at most 63 + 6 characters, a DNS-1123 subdomain when the Workflow name is. */
export function tokenSecretName(workflowName: string): string {
  return `${workflowName}-token`;
}

export function ownerReference(workflow: { metadata: { name?: string; uid?: string } }): OwnerReference {
  const { name, uid } = workflow.metadata;
  const issues: Issue[] = [];
  if (!name) issues.push({ path: 'metadata.name', message: 'is required' });
  if (!uid) issues.push({ path: 'metadata.uid', message: 'is required (the Workflow must exist)' });
  if (issues.length > 0) throw new ValidationError('cannot reference the workflow as owner', issues);
  return { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: name!, uid: uid!, blockOwnerDeletion: false };
}

/**
 * The Secret holding `token` for `workflow` (as built by buildWorkflow), deeply frozen.
 * With `ownerUid` (the Workflow exists) it is owned from the start; without, it is
 * marked owner-pending. Throws ValidationError listing every problem.
 */
export function buildRunTokenSecret(workflow: Workflow, token: SecretValue | string, ownerUid?: string): RunTokenSecret {
  const value = token instanceof SecretValue ? token.reveal() : token;
  const name = workflow.metadata?.name ?? '';
  const issues: Issue[] = [];
  if (!isDnsSubdomain(name)) issues.push({ path: 'workflow.metadata.name', message: 'must be a DNS-1123 subdomain' });
  else if (!isDnsSubdomain(tokenSecretName(name))) issues.push({ path: 'workflow.metadata.name', message: 'leaves no room for the -token suffix' });
  if (typeof value !== 'string' || !TOKEN.test(value)) issues.push({ path: 'token', message: 'must be 1–4096 printable ASCII characters' });
  if (ownerUid !== undefined && ownerUid === '') issues.push({ path: 'ownerUid', message: 'must not be empty' });
  if (issues.length > 0) throw new ValidationError('cannot build the run token secret', issues);

  const from = workflow.metadata.labels ?? {};
  const labels: Record<string, string> = {};
  for (const key of [LABELS.stage, LABELS.idea, LABELS.task, LABELS.run, LABELS.attempt]) {
    if (from[key] !== undefined) labels[key] = from[key];
  }
  labels[LABELS.managedBy] = 'facteur';
  labels[LABELS.component] = TOKEN_COMPONENT;
  if (ownerUid === undefined) labels[OWNER_PENDING] = 'true';
  const runId = workflow.metadata.annotations?.[ANNOTATIONS.runId];
  const secret: RunTokenSecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: tokenSecretName(name),
      ...(workflow.metadata.namespace !== undefined ? { namespace: workflow.metadata.namespace } : {}),
      labels,
      annotations: { [WORKFLOW_ANNOTATION]: name, ...(runId !== undefined ? { [ANNOTATIONS.runId]: runId } : {}) },
      ...(ownerUid !== undefined ? { ownerReferences: [ownerReference({ metadata: { name, uid: ownerUid } })] } : {}),
    },
    type: 'Opaque',
    data: { [TOKEN_KEY]: Buffer.from(value, 'utf8').toString('base64') },
  };
  return deepFreeze(secret);
}

/** The token a Secret read back from the API holds, or undefined. */
export function tokenOf(secret: { data?: Record<string, string> | undefined } | undefined): string | undefined {
  const b64 = secret?.data?.[TOKEN_KEY];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

