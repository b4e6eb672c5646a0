// What the manifest tests share: the documents loaded and validated once, and readers of them.
import type { IService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import type { IPingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { expect } from 'vitest';
import { FUNCTIONS as SERVED } from '../../functions/index.js';
import type { KafkaSource } from './kafka-source.js';
import { loadManifests } from './load.js';


// The functions the image actually serves: a Service for anything else would crash-loop.
export const FUNCTIONS = Object.keys(SERVED) as (keyof typeof SERVED)[];
export type FunctionName = (typeof FUNCTIONS)[number];
export const NS = 'facteur';
export const ARGO_NS = 'argo-workflows';
export const EVENTING_NS = 'knative-eventing';
export const IMAGE = 'ghcr.io/facteur/facteur:latest';
export const SECRET = 'facteur-secrets';
export const CONFIG = 'facteur-config';
/** PostgreSQL's default max_connections (100), less superuser_reserved_connections (3) and
 *  room for psql, backups and monitoring. */
export const CONNECTION_BUDGET = 90;
/** Every secret the image reads (shared/config); none of them may sit in the ConfigMap. */
export const SECRET_KEYS = ['DATABASE_URL', 'FACTEUR_CALLBACK_SECRET', 'FACTEUR_STATUS_TOKEN', 'FACTEUR_INTAKE_TOKEN', 'FACTEUR_API_TOKENS', 'FACTEUR_GITHUB_WEBHOOK_SECRET',
  'FACTEUR_DASHBOARD_SECRET', 'FACTEUR_GITHUB_TOKEN', 'FACTEUR_DISCORD_WEBHOOK_URL'];

export const manifests = loadManifests();
export const all = <T>(apiVersion: string, kind: string): T[] =>
  manifests.filter((m) => m.apiVersion === apiVersion && m.kind === kind).map((m) => m.body as T);
export const one = <T>(apiVersion: string, kind: string, name: string): T => {
  const found = manifests.filter((m) => m.apiVersion === apiVersion && m.kind === kind && m.name === name);
  expect(found.map((m) => m.where), `exactly one ${kind} ${name}`).toHaveLength(1);
  return found[0]!.body as T;
};

export const services = all<IService>('serving.knative.dev/v1', 'Service');
export const kafkaSources = all<KafkaSource>('sources.knative.dev/v1beta1', 'KafkaSource');
export const pingSources = all<IPingSource>('sources.knative.dev/v1', 'PingSource');
export const configMap = () => one<IConfigMap>('v1', 'ConfigMap', CONFIG);
export const exampleSecret = () => one<ISecret>('v1', 'Secret', SECRET);
export const secretKeys = () => {
  const s = exampleSecret();
  return new Set([...Object.keys(s.stringData ?? {}), ...Object.keys(s.data ?? {})]);
};

export type Container = NonNullable<NonNullable<NonNullable<IService['spec']>['template']>['spec']>['containers'][number];
export const podSpec = (s: IService) => s.spec!.template!.spec!;
export const container = (s: IService): Container => podSpec(s).containers[0]!;
export const annotation = (s: IService, key: string) => s.spec!.template!.metadata?.annotations?.[key];
export const literalEnv = (s: IService, name: string) => container(s).env?.find((e) => e.name === name)?.value;
export const secretRefs = (s: IService) =>
  (container(s).env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [{ env: e.name, ...e.valueFrom.secretKeyRef }] : []));
export const serviceOf = (fn: FunctionName) => {
  const found = services.filter((s) => literalEnv(s, 'FUNCTION_TARGET') === fn);
  expect(found, `one Service with FUNCTION_TARGET=${fn}`).toHaveLength(1);
  return found[0]!;
};
