// Argo Workflows: deterministic names, the Workflow objects Facteur submits, and the
// Kubernetes client that submits them (CONTRACTS §4, ARCHITECTURE §3–§4).
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
export { createArgoClient, kubeConfigFromEnv, DEFAULT_RETRY } from './client.js';
export type { ArgoClient, ArgoClientOptions, RetryOptions, SubmitResult, ShutdownMode } from './client.js';
