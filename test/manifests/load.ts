// Reads the project's Kubernetes manifests the way kubectl does, and validates each object
// against the schema of its kind, offline.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { PingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import { ClusterWorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/ClusterWorkflowTemplate';
import { CronWorkflow } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow';
import { WorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate';
import { destinationProblems, kafkaSourceProblems } from './kafka-source.js';
import { knativeServiceProblems } from './knative-service.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where the deployable manifests live (docs/deploy.md applies exactly these). */
export const MANIFEST_DIRS = ['knative', 'triggers'];

export interface Manifest {
  /** `path/to/file.yaml#n`, n counting the file's documents from 0. */
  readonly where: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly body: Record<string, unknown>;
}

/** Every .yaml/.yml file under the folders, recursively, sorted. */
export function manifestFiles(dirs: readonly string[] = MANIFEST_DIRS): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name)) out.push(path);
    }
  };
  for (const dir of dirs) if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  return out.sort();
}

/**
 * Parses every document of every file. YAML 1.1, as kubectl reads it (a bare `yes`/`on`
 * is a boolean there); parse errors, duplicate keys and non-object documents throw.
 */
export function loadManifests(files: readonly string[] = manifestFiles()): Manifest[] {
  const out: Manifest[] = [];
  for (const file of files) {
    const rel = relative(ROOT, file);
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1', prettyErrors: true });
    if (!Array.isArray(docs)) continue; // an empty stream
    docs.forEach((doc, i) => {
      const where = `${rel}#${i}`;
      if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const body: unknown = doc.toJS();
      if (body === null || body === undefined) return; // an empty document (a trailing `---`)
      if (typeof body !== 'object' || Array.isArray(body)) throw new Error(`${where}: not a Kubernetes object`);
      const o = body as Record<string, unknown>;
      const meta = (o.metadata ?? {}) as Record<string, unknown>;
      out.push({
        where,
        apiVersion: String(o.apiVersion),
        kind: String(o.kind),
        name: String(meta.name),
        namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined,
        body: o,
      });
    });
  }
  return out;
}

type Validate = (body: Record<string, unknown>) => void;

const model =
  (M: new (data: never) => { validate(): void }): Validate =>
  (body) =>
    new M(body as never).validate();

const problems =
  (check: (body: Record<string, unknown>) => string[]): Validate =>
  (body) => {
    const found = check(body);
    if (found.length > 0) throw new Error(found.join('\n'));
  };

const both =
  (...checks: Validate[]): Validate =>
  (body) => {
    for (const check of checks) check(body);
  };

/** `apiVersion/kind` → its validator. A kind missing here is a test failure, never a skip. */
export const VALIDATORS: Readonly<Record<string, Validate>> = {
  'v1/Namespace': model(Namespace),
  'v1/ConfigMap': model(ConfigMap),
  'v1/Secret': model(Secret),
  'v1/ServiceAccount': model(ServiceAccount),
  'rbac.authorization.k8s.io/v1/Role': model(Role),
  'rbac.authorization.k8s.io/v1/RoleBinding': model(RoleBinding),
  'rbac.authorization.k8s.io/v1/ClusterRole': model(ClusterRole),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': model(ClusterRoleBinding),
  // The Knative 1.10 CRD schema, then what the Serving webhook adds.
  'serving.knative.dev/v1/Service': both(model(KnativeService), problems(knativeServiceProblems)),
  // The CRD schema keeps unknown sink fields (a misspelt `audience` would be dropped
  // silently): the sink is checked as strictly as a KafkaSource's.
  'sources.knative.dev/v1/PingSource': both(model(PingSource), problems((b) => {
    const found: string[] = [];
    destinationProblems((b.spec as Record<string, unknown> | undefined)?.sink, 'spec.sink', found);
    return found;
  })),
  // Not in @kubernetes-models/knative: the webhook's rules, ported (kafka-source.ts).
  'sources.knative.dev/v1beta1/KafkaSource': problems(kafkaSourceProblems),
  'argoproj.io/v1alpha1/WorkflowTemplate': model(WorkflowTemplate),
  'argoproj.io/v1alpha1/ClusterWorkflowTemplate': model(ClusterWorkflowTemplate),
  'argoproj.io/v1alpha1/CronWorkflow': model(CronWorkflow),
};

/** Throws everything wrong with one object, or returns quietly. */
export function validateManifest(m: Manifest): void {
  const validate = VALIDATORS[`${m.apiVersion}/${m.kind}`];
  if (!validate) throw new Error(`no schema for ${m.apiVersion} ${m.kind}: add its model to VALIDATORS in test/manifests/load.ts`);
  validate(m.body);
}
