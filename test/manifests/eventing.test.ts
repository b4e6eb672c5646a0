// The deployment manifests, continued (test/manifests/manifests.test.ts): the event sources,
// sender authentication and RBAC, against each other and the Services.
import type { IWorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { KafkaSource } from './kafka-source.js';
import { validateManifest, type Manifest } from './load.js';
import { FUNCTIONS, type FunctionName, NS, ARGO_NS, EVENTING_NS, all, one, services, kafkaSources, pingSources, configMap, podSpec, container, literalEnv, serviceOf } from './fixture.js';

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
    expect(pingSources.map((p) => p.metadata?.name).sort()).toEqual(['facteur-kb-finetune', 'facteur-tick']);
    const tick = pingSources.find((p) => p.metadata?.name === 'facteur-tick')!;
    expect(tick.spec?.schedule).toBe('* * * * *');
    expect(tick.spec?.sink).toEqual({
      ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dispatch', namespace: NS },
      uri: '/tick',
      audience: literalEnv(serviceOf('dispatch'), 'FACTEUR_OIDC_AUDIENCE'),
    });
    expect(tick.spec?.contentType).toBe('application/json');
    expect(() => JSON.parse(tick.spec!.data!)).not.toThrow();
  });

  it('the knowledge base\'s fine-tune trigger pings dispatch once a day at /kb/finetune', () => {
    const daily = pingSources.find((p) => p.metadata?.name === 'facteur-kb-finetune')!;
    expect(daily.spec?.schedule).toMatch(/^\d{1,2} \d{1,2} \* \* \*$/);
    expect(daily.spec?.sink).toEqual({
      ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dispatch', namespace: NS },
      uri: '/kb/finetune',
      audience: literalEnv(serviceOf('dispatch'), 'FACTEUR_OIDC_AUDIENCE'),
    });
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
