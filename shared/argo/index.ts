// Argo Workflows: deterministic names, the Workflow objects Facteur submits, and the
// Kubernetes client that submits them with their run-token Secrets (CONTRACTS §4,
// ARCHITECTURE §3–§4).
export { STAGES, isStage, workflowName, labelValue, isDnsSubdomain, isLabelValue, MAX_NAME_LENGTH } from './names.js';
export type { Stage, WorkflowNameInput } from './names.js';
export {
  buildWorkflow,
  templateName,
  workflowRef,
  LABELS,
  ANNOTATIONS,
  DEFAULT_NAMESPACE,
  DEFAULT_SERVICE_ACCOUNT,
  DEFAULT_BASE,
} from './workflow.js';
export type { Workflow, WorkflowInput, WorkflowRef } from './workflow.js';
export {
  buildRunTokenSecret,
  tokenSecretName,
  ownerReference,
  tokenOf,
  TOKEN_KEY,
  TOKEN_DIR,
  TOKEN_FILE,
  TOKEN_COMPONENT,
  OWNER_PENDING,
  WORKFLOW_ANNOTATION,
} from './secret.js';
export type { RunTokenSecret, OwnerReference } from './secret.js';
export type { OrphanToken, RunTokenSweep } from './token-secrets.js';
export { createArgoClient, kubeConfigFromEnv, DEFAULT_RETRY, SubmissionAbandoned } from './client.js';
export type { ArgoClient, ArgoClientOptions, RetryOptions, SubmitResult, SubmitOptions, ShutdownMode } from './client.js';
