// The deployment manifests (knative/, triggers/): every object against the schema of its
// kind, then the references between them — what `kubectl apply` would only reveal on a
// cluster, one failed pod or one lost event at a time.
import { FUNCTIONS as SERVED } from '../../functions/index.js';
import type { IService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import type { IPingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import type { IWorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { KafkaSource } from './kafka-source.js';
import { RESERVED_ENV } from './knative-service.js';
import { loadManifests, validateManifest, type Manifest } from './load.js';

// The functions the image actually serves: a Service for anything else would crash-loop.
const FUNCTIONS = Object.keys(SERVED) as (keyof typeof SERVED)[];
type FunctionName = (typeof FUNCTIONS)[number];
const NS = 'facteur';
const ARGO_NS = 'argo-workflows';
const EVENTING_NS = 'knative-eventing';
const IMAGE = 'ghcr.io/facteur/facteur:latest';
const SECRET = 'facteur-secrets';
const CONFIG = 'facteur-config';
/** PostgreSQL's default max_connections (100), less superuser_reserved_connections (3) and
 *  room for psql, backups and monitoring. */
const CONNECTION_BUDGET = 90;
/** Every secret the image reads (shared/config); none of them may sit in the ConfigMap. */
const SECRET_KEYS = ['DATABASE_URL', 'FACTEUR_CALLBACK_SECRET', 'FACTEUR_STATUS_TOKEN', 'FACTEUR_INTAKE_TOKEN', 'FACTEUR_API_TOKENS', 'FACTEUR_GITHUB_WEBHOOK_SECRET',
  'FACTEUR_DASHBOARD_SECRET', 'FACTEUR_GITHUB_TOKEN', 'FACTEUR_DISCORD_WEBHOOK_URL'];

const manifests = loadManifests();
const all = <T>(apiVersion: string, kind: string): T[] =>
  manifests.filter((m) => m.apiVersion === apiVersion && m.kind === kind).map((m) => m.body as T);
const one = <T>(apiVersion: string, kind: string, name: string): T => {
  const found = manifests.filter((m) => m.apiVersion === apiVersion && m.kind === kind && m.name === name);
  expect(found.map((m) => m.where), `exactly one ${kind} ${name}`).toHaveLength(1);
  return found[0]!.body as T;
};

const services = all<IService>('serving.knative.dev/v1', 'Service');
const kafkaSources = all<KafkaSource>('sources.knative.dev/v1beta1', 'KafkaSource');
const pingSources = all<IPingSource>('sources.knative.dev/v1', 'PingSource');
const configMap = () => one<IConfigMap>('v1', 'ConfigMap', CONFIG);
const exampleSecret = () => one<ISecret>('v1', 'Secret', SECRET);
const secretKeys = () => {
  const s = exampleSecret();
  return new Set([...Object.keys(s.stringData ?? {}), ...Object.keys(s.data ?? {})]);
};

type Container = NonNullable<NonNullable<NonNullable<IService['spec']>['template']>['spec']>['containers'][number];
const podSpec = (s: IService) => s.spec!.template!.spec!;
const container = (s: IService): Container => podSpec(s).containers[0]!;
const annotation = (s: IService, key: string) => s.spec!.template!.metadata?.annotations?.[key];
const literalEnv = (s: IService, name: string) => container(s).env?.find((e) => e.name === name)?.value;
const secretRefs = (s: IService) =>
  (container(s).env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [{ env: e.name, ...e.valueFrom.secretKeyRef }] : []));
const serviceOf = (fn: FunctionName) => {
  const found = services.filter((s) => literalEnv(s, 'FUNCTION_TARGET') === fn);
  expect(found, `one Service with FUNCTION_TARGET=${fn}`).toHaveLength(1);
  return found[0]!;
};

describe('every manifest document', () => {
  it('is found under knative/ and triggers/', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(15);
    const kinds = new Set(manifests.map((m) => `${m.apiVersion}/${m.kind}`));
    for (const k of ['v1/Namespace', 'v1/ConfigMap', 'v1/Secret', 'serving.knative.dev/v1/Service', 'sources.knative.dev/v1beta1/KafkaSource', 'sources.knative.dev/v1/PingSource']) {
      expect(kinds).toContain(k);
    }
  });

  it.each(manifests.map((m): [string, Manifest] => [`${m.where} ${m.kind} ${m.name}`, m]))('%s validates against its schema', (_, m) => {
    validateManifest(m);
  });

  it('is a unique object, in the namespace it belongs to', () => {
    const seen = new Map<string, string>();
    for (const m of manifests) {
      const key = `${m.apiVersion.split('/')[0]}/${m.kind}/${m.namespace ?? ''}/${m.name}`;
      expect(seen.get(key), `${m.where} repeats ${seen.get(key)}`).toBeUndefined();
      seen.set(key, m.where);
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ClusterWorkflowTemplate'].includes(m.kind);
      if (clusterScoped) expect(m.namespace, m.where).toBeUndefined();
      // Knative Eventing's own feature flags: the one object outside Facteur's namespaces.
      else if (m.kind === 'ConfigMap' && m.name === 'config-features') expect(m.namespace, m.where).toBe(EVENTING_NS);
      // No implicit `default` namespace: everything says where it goes.
      else expect([NS, ARGO_NS], m.where).toContain(m.namespace);
    }
    expect(one('v1', 'Namespace', NS)).toBeTruthy();
  });
});

describe('the validators themselves', () => {
  const fake = (body: Record<string, unknown>): Manifest => ({
    where: 'fake', apiVersion: String(body.apiVersion), kind: String(body.kind), name: 'x', namespace: NS, body,
  });
  const intake = () => structuredClone(serviceOf('intake')) as unknown as Record<string, any>;

  it('refuse a kind nobody validates', () => {
    expect(() => validateManifest(fake({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }))).toThrow(/no schema/);
  });

  it('catch a wrong type, a misspelt field and a reserved variable in a Service', () => {
    const wrongType = intake();
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    expect(() => validateManifest(fake(wrongType))).toThrow(/containerPort/);
    const typo = intake();
    typo.spec.template.spec.containerConcurency = 10;
    expect(() => validateManifest(fake(typo))).toThrow(/containerConcurency/);
    const reserved = intake();
    reserved.spec.template.spec.containers[0].env.push({ name: 'PORT', value: '9090' });
    expect(() => validateManifest(fake(reserved))).toThrow(/PORT is reserved/);
  });

  it('catch a misspelt consumer group and a bad backoff in a KafkaSource', () => {
    const source = structuredClone(kafkaSources[0]!) as unknown as Record<string, any>;
    source.spec.consumergroup = source.spec.consumerGroup;
    source.spec.delivery.backoffDelay = '1s';
    const err = (() => {
      try {
        validateManifest(fake(source));
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(err).toMatch(/spec\.consumergroup: unknown field/);
    expect(err).toMatch(/backoffDelay: "1s" is not an ISO 8601 duration/);
  });
});

describe('the Knative Services', () => {
  it('are one per function, named after it, all from the one image', () => {
    expect(services.map((s) => literalEnv(s, 'FUNCTION_TARGET')).sort()).toEqual([...FUNCTIONS].sort());
    for (const fn of FUNCTIONS) {
      const s = serviceOf(fn);
      expect(s.metadata?.name).toBe(fn);
      expect(s.metadata?.namespace).toBe(NS);
      expect(podSpec(s).containers).toHaveLength(1);
      expect(container(s).image).toBe(IMAGE);
      expect(container(s).envFrom).toEqual([{ configMapRef: { name: CONFIG } }]);
    }
  });

  it('are cluster-local, except status (on the tailnet)', () => {
    for (const fn of FUNCTIONS) {
      const visibility = serviceOf(fn).metadata?.labels?.['networking.knative.dev/visibility'];
      expect(visibility, fn).toBe(fn === 'status' ? undefined : 'cluster-local');
    }
  });

  it('scale as each function needs', () => {
    const scale = (fn: FunctionName, bound: 'min' | 'max') => Number(annotation(serviceOf(fn), `autoscaling.knative.dev/${bound}-scale`));
    expect(scale('intake', 'min')).toBeGreaterThanOrEqual(1); // answers fast
    expect(scale('dispatch', 'min')).toBeGreaterThanOrEqual(1); // the tick finds it warm
    expect(scale('status', 'min')).toBe(0); // scales to zero
    for (const fn of FUNCTIONS) {
      const s = serviceOf(fn);
      expect(scale(fn, 'max'), fn).toBeGreaterThanOrEqual(Math.max(1, scale(fn, 'min')));
      expect(podSpec(s).containerConcurrency, fn).toBeGreaterThan(0);
      expect(podSpec(s).timeoutSeconds, fn).toBeGreaterThan(0);
    }
  });

  it('stay within the database connection budget at full scale', () => {
    const configured = Number(configMap().data?.DATABASE_POOL_SIZE ?? 10);
    const total = FUNCTIONS.reduce((sum, fn) => {
      const s = serviceOf(fn);
      const pool = Number(literalEnv(s, 'DATABASE_POOL_SIZE') ?? configured);
      return sum + Number(annotation(s, 'autoscaling.knative.dev/max-scale')) * pool;
    }, 0);
    expect(total).toBeLessThanOrEqual(CONNECTION_BUDGET);
  });

  it('probe /healthz, bound their resources and run locked down', () => {
    for (const fn of FUNCTIONS) {
      const c = container(serviceOf(fn));
      expect(c.readinessProbe?.httpGet?.path, fn).toBe('/healthz');
      expect(c.livenessProbe?.httpGet?.path, fn).toBe('/healthz');
      for (const kind of ['requests', 'limits'] as const) {
        expect(c.resources?.[kind]?.cpu, `${fn} cpu ${kind}`).toBeDefined();
        expect(c.resources?.[kind]?.memory, `${fn} memory ${kind}`).toBeDefined();
      }
      expect(c.securityContext, fn).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('give a Kubernetes identity only to the functions that create or delete Workflows, and to intake for the issuer keys', () => {
    // dispatch submits; callbacks submits successors in the request path; status cancels
    const withIdentity = ['dispatch', 'callbacks', 'status'];
    for (const fn of withIdentity) expect(podSpec(serviceOf(fn as FunctionName)).serviceAccountName, fn).toBe('facteur');
    expect(one('v1', 'ServiceAccount', 'facteur')).toMatchObject({ metadata: { namespace: NS } });
    // intake verifies OIDC tokens: an identity of its own, with no Role (see RBAC below)
    expect(podSpec(serviceOf('intake')).serviceAccountName).toBe('intake');
    expect(one('v1', 'ServiceAccount', 'intake')).toMatchObject({ metadata: { namespace: NS }, automountServiceAccountToken: false });
    for (const fn of FUNCTIONS.filter((f) => !withIdentity.includes(f))) {
      if (fn !== 'intake') expect(podSpec(serviceOf(fn)).serviceAccountName, fn).toBeUndefined();
      expect(podSpec(serviceOf(fn)).automountServiceAccountToken, fn).toBe(false);
    }
  });

  it('read secrets only from keys the Secret template has, each function only what it needs', () => {
    const keys = secretKeys();
    const needs: Record<FunctionName, string[]> = {
      intake: ['DATABASE_URL', 'FACTEUR_GITHUB_WEBHOOK_SECRET'],
      // the notifiers run from dispatch
      dispatch: ['DATABASE_URL', 'FACTEUR_CALLBACK_SECRET', 'FACTEUR_GITHUB_TOKEN', 'FACTEUR_DISCORD_WEBHOOK_URL'],
      callbacks: ['DATABASE_URL', 'FACTEUR_CALLBACK_SECRET'],
      status: ['DATABASE_URL', 'FACTEUR_STATUS_TOKEN', 'FACTEUR_API_TOKENS', 'FACTEUR_DASHBOARD_SECRET'],
      policy: ['DATABASE_URL', 'FACTEUR_STATUS_TOKEN', 'FACTEUR_API_TOKENS'],
    };
    for (const fn of FUNCTIONS) {
      const refs = secretRefs(serviceOf(fn));
      for (const ref of refs) {
        expect(ref.name, `${fn} ${ref.env}`).toBe(SECRET);
        expect(keys, `${fn}: key ${ref.key} is not in secret.example.yaml`).toContain(ref.key);
        expect(ref.key, `${fn}: the variable is named after its key`).toBe(ref.env);
      }
      expect(refs.map((r) => r.env).sort(), fn).toEqual(needs[fn].sort());
    }
  });

  it('do not ask the KafkaSource for a bearer token it cannot send', () => {
    // A KafkaSource cannot send the static FACTEUR_INTAKE_TOKEN (it authenticates with an
    // OIDC token, below); the static token is for direct posts (local mode, tools).
    const sinks = new Set(kafkaSources.map((k) => k.spec.sink?.ref?.name));
    for (const s of services.filter((s) => sinks.has(s.metadata?.name))) {
      expect(container(s).env?.map((e) => e.name), s.metadata?.name).not.toContain('FACTEUR_INTAKE_TOKEN');
    }
  });

  it('start with a configuration the image accepts', () => {
    const secret = exampleSecret().stringData ?? {};
    for (const fn of FUNCTIONS) {
      const s = serviceOf(fn);
      // What the container sees: envFrom first, then env (which wins), secrets resolved.
      const env: Record<string, string> = { ...configMap().data };
      for (const e of container(s).env ?? []) {
        const key = e.valueFrom?.secretKeyRef?.key;
        env[e.name] = key !== undefined ? secret[key]! : e.value!;
      }
      env.PORT = '8080'; // set by Knative
      const config = loadConfig(env);
      expect(config.functionTarget).toBe(fn);
      expect(config.unknownKeys, `${fn}: FACTEUR_* variables the image does not know`).toEqual([]);
      expect(config.databaseUrl, fn).toBeDefined();
      expect(config.kafka?.brokers, fn).toEqual(configMap().data!.KAFKA_BROKERS!.split(','));
      expect(config.poolSize, fn).toBe(Number(configMap().data!.DATABASE_POOL_SIZE));
    }
  });
});

describe('the ConfigMap and the Secret template', () => {
  it('keep secrets, reserved and per-Service names out of the ConfigMap', () => {
    const keys = Object.keys(configMap().data ?? {});
    for (const k of [...SECRET_KEYS, ...RESERVED_ENV, 'FUNCTION_TARGET']) expect(keys).not.toContain(k);
  });

  it('hold only obvious placeholders in the Secret template, for every secret the image reads', () => {
    expect([...secretKeys()].sort()).toEqual([...SECRET_KEYS].sort());
    // the API tokens are hashes, not secrets: their placeholder is the empty list
    for (const [key, value] of Object.entries(exampleSecret().stringData ?? {})) expect(value, key).toMatch(key === 'FACTEUR_API_TOKENS' ? /^\[\]$/ : /CHANGE-ME/);
    expect(exampleSecret().data).toBeUndefined();
  });
});

describe('the event sources', () => {
  const topicsOf = (sink: string) => kafkaSources.filter((k) => k.spec.sink?.ref?.name === sink).flatMap((k) => k.spec.topics ?? []);
  const cm = () => configMap().data!;

  it('deliver to Knative Services that exist, in their own namespace', () => {
    const names = new Set(services.map((s) => s.metadata?.name));
    const sinks = [...kafkaSources, ...pingSources].map((src) => ({ src: src.metadata?.name, ns: src.metadata?.namespace, ref: src.spec?.sink?.ref }));
    expect(sinks.length).toBeGreaterThanOrEqual(3);
    for (const { src, ns, ref } of sinks) {
      expect(ref, `${src} sink`).toMatchObject({ apiVersion: 'serving.knative.dev/v1', kind: 'Service' });
      expect(names, `${src} → ${ref?.name}`).toContain(ref?.name);
      expect(ref?.namespace ?? ns, String(src)).toBe(ns);
      expect(ns).toBe(NS);
    }
  });

  it('subscribe intake to exactly the topics its configuration routes', () => {
    const want = [
      cm().FACTEUR_TOPIC_INTENT,
      cm().FACTEUR_TOPIC_CODEX_TASKS_PROTO,
      cm().FACTEUR_TOPIC_CODEX_TASKS_JSON,
      cm().FACTEUR_TOPIC_WORKFLOW_COMPLETIONS,
      cm().FACTEUR_TOPIC_TELEMETRY,
      cm().FACTEUR_TOPIC_GITHUB_WEBHOOKS,
    ];
    expect(topicsOf('intake').sort()).toEqual(['argo.workflows.completions', 'codex.intent', 'codex.telemetry', 'github.codex.tasks', 'github.issues.codex.tasks', 'github.webhook.events']);
    expect(topicsOf('intake').sort()).toEqual(want.sort());
    expect(topicsOf('dispatch')).toEqual([cm().FACTEUR_TOPIC_EVENTS]);
    expect(cm().FACTEUR_TOPIC_EVENTS).toBe('facteur.events');
  });

  it('use one consumer group each, and the brokers the functions publish to', () => {
    expect(kafkaSources.filter((k) => k.spec.sink?.ref?.name === 'intake').map((k) => k.spec.consumerGroup)).toEqual(['facteur-intake']);
    const groups = kafkaSources.map((k) => k.spec.consumerGroup);
    // Two sources in one group would split the partitions between them.
    expect(new Set(groups).size).toBe(groups.length);
    for (const k of kafkaSources) {
      expect(k.spec.bootstrapServers, k.metadata.name).toEqual(cm().KAFKA_BROKERS!.split(','));
      expect(k.spec.delivery?.retry, k.metadata.name).toBeGreaterThan(0);
      expect(k.spec.delivery?.backoffPolicy, k.metadata.name).toBe('exponential');
      // Facteur keeps its own dead letters (dead_letters table): no sink to invent.
      expect(k.spec.delivery?.deadLetterSink, k.metadata.name).toBeUndefined();
    }
  });

  it('tick dispatch every minute at /tick with a JSON body', () => {
    expect(pingSources).toHaveLength(1);
    const tick = pingSources[0]!;
    expect(tick.metadata?.name).toBe('facteur-tick');
    expect(tick.spec?.schedule).toBe('* * * * *');
    expect(tick.spec?.sink).toEqual({
      ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dispatch', namespace: NS },
      uri: '/tick',
      audience: literalEnv(serviceOf('dispatch'), 'FACTEUR_OIDC_AUDIENCE'),
    });
    expect(tick.spec?.contentType).toBe('application/json');
    expect(() => JSON.parse(tick.spec!.data!)).not.toThrow();
  });
});

describe('sender authentication (Knative Eventing OIDC)', () => {
  const sources = () => [
    ...kafkaSources.map((k) => ({ kind: 'kafkasource', name: k.metadata.name, ns: k.metadata.namespace ?? NS, sink: k.spec.sink })),
    ...pingSources.map((p) => ({ kind: 'pingsource', name: p.metadata!.name!, ns: p.metadata?.namespace ?? NS, sink: p.spec?.sink as KafkaSource['spec']['sink'] })),
  ];
  /** The identity Knative Eventing makes for a source (auth.GetOIDCServiceAccountNameForResource). */
  const identityOf = (src: { kind: string; name: string; ns: string }) => {
    const name = `${src.name}-oidc-sources.knative.dev-${src.kind}`;
    // kmeta.ChildName hashes names longer than 63 characters: keep ours below that
    expect(name.length, name).toBeLessThanOrEqual(63);
    return `system:serviceaccount:${src.ns}:${name}`;
  };
  const oidcEnv = (fn: FunctionName, name: string) => literalEnv(serviceOf(fn), name);

  it("gives every source its sink's audience, one audience per Service", () => {
    expect(sources().length).toBeGreaterThanOrEqual(3);
    for (const src of sources()) {
      const sink = services.find((s) => s.metadata?.name === src.sink?.ref?.name)!;
      const audience = literalEnv(sink, 'FACTEUR_OIDC_AUDIENCE');
      expect(audience, `${sink.metadata?.name}: FACTEUR_OIDC_AUDIENCE`).toBeDefined();
      expect(src.sink?.audience, `${src.kind} ${src.name}`).toBe(audience);
    }
    // a token for one Service is refused by the other
    expect(oidcEnv('intake', 'FACTEUR_OIDC_AUDIENCE')).not.toBe(oidcEnv('dispatch', 'FACTEUR_OIDC_AUDIENCE'));
    for (const k of kafkaSources.filter((k) => k.spec.sink?.ref?.name === 'intake')) expect(k.spec.sink?.audience).toBe(oidcEnv('intake', 'FACTEUR_OIDC_AUDIENCE'));
  });

  it("allows at each Service exactly the identities of the sources that deliver to it", () => {
    for (const fn of ['intake', 'dispatch'] as const) {
      const allowed = loadConfig({ ...configMap().data, FUNCTION_TARGET: fn, FACTEUR_OIDC_ISSUER: oidcEnv(fn, 'FACTEUR_OIDC_ISSUER'), FACTEUR_OIDC_AUDIENCE: oidcEnv(fn, 'FACTEUR_OIDC_AUDIENCE'), FACTEUR_OIDC_ALLOWED_SUBJECTS: oidcEnv(fn, 'FACTEUR_OIDC_ALLOWED_SUBJECTS') }).oidc!.allowedSubjects;
      const senders = sources().filter((src) => src.sink?.ref?.name === fn).map(identityOf);
      expect([...allowed].sort(), fn).toEqual(senders.sort());
    }
  });

  it('trusts one issuer, and lets each verifying Service read its keys with a token and the cluster CA', () => {
    expect(oidcEnv('intake', 'FACTEUR_OIDC_ISSUER')).toMatch(/^https:\/\//);
    expect(oidcEnv('dispatch', 'FACTEUR_OIDC_ISSUER')).toBe(oidcEnv('intake', 'FACTEUR_OIDC_ISSUER'));
    // dispatch: the automounted token of `facteur`
    expect(podSpec(serviceOf('dispatch')).automountServiceAccountToken).not.toBe(false);
    // intake: a projected token and the CA, where the in-cluster defaults look for them
    const spec = podSpec(serviceOf('intake'));
    const mount = container(serviceOf('intake')).volumeMounts?.find((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount');
    expect(mount?.readOnly).toBe(true);
    const sourcesOf = spec.volumes?.find((v) => v.name === mount?.name)?.projected?.sources ?? [];
    expect(sourcesOf.find((x) => x.serviceAccountToken)?.serviceAccountToken).toMatchObject({ path: 'token' });
    expect(sourcesOf.find((x) => x.configMap)?.configMap).toEqual({ name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
  });

  it("turns on Knative Eventing's authentication-oidc flag, and only that", () => {
    const features = one<IConfigMap>('v1', 'ConfigMap', 'config-features');
    expect(features.metadata?.namespace).toBe(EVENTING_NS);
    expect(features.data).toEqual({ 'authentication-oidc': 'enabled' });
  });

  it("catch a misspelt audience in a PingSource's sink, and a volume Knative would refuse", () => {
    const fake = (body: Record<string, unknown>): Manifest => ({ where: 'fake', apiVersion: String(body.apiVersion), kind: String(body.kind), name: 'x', namespace: NS, body });
    const ping = structuredClone(pingSources[0]!) as unknown as Record<string, any>;
    ping.spec.sink.audiance = ping.spec.sink.audience;
    expect(() => validateManifest(fake(ping))).toThrow(/spec\.sink\.audiance: unknown field/);
    const svc = structuredClone(serviceOf('intake')) as unknown as Record<string, any>;
    svc.spec.template.spec.containers[0].volumeMounts[0].readOnly = false;
    svc.spec.template.spec.volumes.push({ name: 'scratch', emptyDir: {} });
    const err = (() => {
      try {
        validateManifest(fake(svc));
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(err).toMatch(/readOnly: Knative requires true/);
    expect(err).toMatch(/volumes\[1\]\.emptyDir: not allowed/);
    expect(err).toMatch(/volume scratch is not mounted/);
  });
});

describe('RBAC', () => {
  const roles = all<IRole>('rbac.authorization.k8s.io/v1', 'Role');
  const bindings = all<IRoleBinding>('rbac.authorization.k8s.io/v1', 'RoleBinding');
  /** The verbs a service account holds on apiGroup/resource in a namespace, through Roles. */
  const verbs = (sa: string, saNs: string, ns: string, apiGroup: string, resource: string) => {
    const out = new Set<string>();
    for (const b of bindings.filter((b) => b.metadata?.namespace === ns)) {
      const bound = (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa && (s.namespace ?? ns) === saNs);
      if (!bound || b.roleRef.kind !== 'Role') continue;
      const role = roles.find((r) => r.metadata?.name === b.roleRef.name && r.metadata?.namespace === ns);
      for (const rule of role?.rules ?? []) {
        const group = (rule.apiGroups ?? []).some((g) => g === apiGroup || g === '*');
        const res = (rule.resources ?? []).some((r) => r === resource || r === '*');
        if (group && res) for (const v of rule.verbs) out.add(v);
      }
    }
    return out;
  };

  it('binds only Roles and ServiceAccounts that exist', () => {
    const accounts = all<{ metadata: { name: string; namespace: string } }>('v1', 'ServiceAccount').map((a) => `${a.metadata.namespace}/${a.metadata.name}`);
    for (const b of bindings) {
      expect(b.roleRef.kind, b.metadata?.name).toBe('Role');
      expect(roles.some((r) => r.metadata?.name === b.roleRef.name && r.metadata?.namespace === b.metadata?.namespace), b.metadata?.name).toBe(true);
      for (const s of b.subjects ?? []) {
        expect(s.kind).toBe('ServiceAccount');
        expect(accounts).toContain(`${s.namespace ?? b.metadata?.namespace}/${s.name}`);
      }
    }
  });

  it("lets dispatch submit, follow, cancel and delete Workflows, and read their templates", () => {
    const sa = podSpec(serviceOf('dispatch')).serviceAccountName!;
    const workflows = verbs(sa, NS, ARGO_NS, 'argoproj.io', 'workflows');
    for (const v of ['create', 'get', 'list', 'watch', 'delete', 'patch']) expect(workflows, `workflows ${v}`).toContain(v);
    const templates = verbs(sa, NS, ARGO_NS, 'argoproj.io', 'workflowtemplates');
    for (const v of ['get', 'list']) expect(templates, `workflowtemplates ${v}`).toContain(v);
    // The run-token Secrets beside the Workflows, in Argo's namespace only (and never watch/update).
    expect([...verbs(sa, NS, ARGO_NS, '', 'secrets')].sort()).toEqual(['create', 'delete', 'get', 'list', 'patch']);
    expect(verbs(sa, NS, NS, '', 'secrets').size).toBe(0);
    // Nothing else it does not need: no pods, no cluster-wide rights (but reading the
    // issuer's public keys, below).
    expect(verbs(sa, NS, ARGO_NS, '', 'pods').size).toBe(0);
    expect(all('rbac.authorization.k8s.io/v1', 'ClusterRole')).toEqual([]);
  });

  it('binds cluster-wide only the built-in issuer-discovery role, to the functions that verify OIDC tokens', () => {
    const crbs = all<IClusterRoleBinding>('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding');
    expect(crbs).toHaveLength(1);
    // system:service-account-issuer-discovery: get on /.well-known/openid-configuration and /openid/v1/jwks, nothing else
    expect(crbs[0]!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' });
    const verifying = FUNCTIONS.filter((fn) => literalEnv(serviceOf(fn), 'FACTEUR_OIDC_ISSUER') !== undefined);
    expect(verifying.sort()).toEqual(['dispatch', 'intake']);
    const bound = (crbs[0]!.subjects ?? []).map((x) => `${x.kind}:${x.namespace}/${x.name}`).sort();
    expect(bound).toEqual([...new Set(verifying.map((fn) => `ServiceAccount:${NS}/${podSpec(serviceOf(fn)).serviceAccountName}`))].sort());
    // intake's identity has nothing else: no RoleBinding names it
    for (const b of bindings) expect((b.subjects ?? []).map((x) => x.name), b.metadata?.name).not.toContain('intake');
  });

  it("gives the workflows' service account what Argo's executor needs", () => {
    expect(one('v1', 'ServiceAccount', 'argo-workflows-workflow')).toMatchObject({ metadata: { namespace: ARGO_NS } });
    const results = verbs('argo-workflows-workflow', ARGO_NS, ARGO_NS, 'argoproj.io', 'workflowtaskresults');
    for (const v of ['create', 'patch']) expect(results, `workflowtaskresults ${v}`).toContain(v);
    const pods = verbs('argo-workflows-workflow', ARGO_NS, ARGO_NS, '', 'pods');
    for (const v of ['get', 'watch', 'patch']) expect(pods, `pods ${v}`).toContain(v);
  });

  it('runs any WorkflowTemplate in Argo’s namespace, as a service account defined here', () => {
    const accounts = new Set(all<{ metadata: { name: string } }>('v1', 'ServiceAccount').map((a) => a.metadata.name));
    for (const t of all<IWorkflowTemplate>('argoproj.io/v1alpha1', 'WorkflowTemplate')) {
      expect(t.metadata?.namespace, t.metadata?.name).toBe(ARGO_NS);
      const sa = t.spec?.serviceAccountName;
      if (sa !== undefined) expect(accounts, `${t.metadata?.name} runs as ${sa}`).toContain(sa);
    }
  });
});
