// The deployment manifests (knative/, triggers/): every object against the schema of its
// kind, then the references between them — what `kubectl apply` would only reveal on a
// cluster, one failed pod or one lost event at a time.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { RESERVED_ENV } from './knative-service.js';
import { validateManifest, type Manifest } from './load.js';
import { FUNCTIONS, type FunctionName, NS, ARGO_NS, EVENTING_NS, IMAGE, SECRET, CONFIG, CONNECTION_BUDGET, SECRET_KEYS, manifests, one, services, kafkaSources, configMap, exampleSecret, secretKeys, podSpec, container, annotation, literalEnv, secretRefs, serviceOf } from './fixture.js';

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
