// What Knative Serving's admission webhook refuses in a Service that its CRD schema (what
// `Service.validate()` of @kubernetes-models/knative checks) lets through: pod and
// container fields outside Knative's allowed subset (knative.dev/serving
// pkg/apis/serving/fieldmask.go, without feature flags), reserved environment variables,
// bad bounds and autoscaling annotations that are misspelt or out of range. The schema
// check also ignores unknown fields, so this is what catches a typo in the pod template.

const REVISION_SPEC = [
  'containers', 'containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds',
  'serviceAccountName', 'volumes', 'imagePullSecrets', 'enableServiceLinks', 'automountServiceAccountToken',
];
const CONTAINER = [
  'name', 'image', 'imagePullPolicy', 'args', 'command', 'workingDir', 'env', 'envFrom', 'ports',
  'readinessProbe', 'livenessProbe', 'startupProbe', 'resources', 'securityContext',
  'terminationMessagePath', 'terminationMessagePolicy', 'volumeMounts',
];
const SECURITY_CONTEXT = ['runAsNonRoot', 'runAsUser', 'runAsGroup', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation', 'capabilities', 'seccompProfile'];
const PROBE = ['httpGet', 'tcpSocket', 'exec', 'grpc', 'initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'];
const HTTP_GET = ['path', 'port', 'scheme', 'httpHeaders', 'host'];
const PORT = ['containerPort', 'name', 'protocol'];
/** Knative sets these itself and refuses them in a container's env. */
export const RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];
/** The queue-proxy's ports, and its container name. */
const RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091];
const RESERVED_CONTAINER_NAMES = ['queue-proxy'];
const AUTOSCALING = new Set([
  'class', 'metric', 'target', 'target-utilization-percentage', 'min-scale', 'max-scale', 'initial-scale',
  'activation-scale', 'scale-down-delay', 'window', 'panic-window-percentage', 'panic-threshold-percentage',
  'max-scale-up-rate', 'max-scale-down-rate', 'scale-to-zero-pod-retention-period',
  // Legacy spellings Knative still reads.
  'minScale', 'maxScale', 'initialScale', 'targetUtilizationPercentage', 'panicWindowPercentage', 'panicThresholdPercentage',
]);
const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
// Volumes (fieldmask.go VolumeSourceMask / VolumeProjectionMask, without feature flags) and
// their mounts (validateVolumeMounts in k8s_validation.go).
const VOLUME = ['name', 'secret', 'configMap', 'projected'];
const PROJECTION = ['secret', 'configMap', 'serviceAccountToken'];
const SA_TOKEN_PROJECTION = ['audience', 'expirationSeconds', 'path'];
const VOLUME_MOUNT = ['name', 'readOnly', 'mountPath', 'subPath'];
const RESERVED_PATHS = ['/', '/dev', '/dev/log', '/tmp', '/var', '/var/log'];
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

type Obj = Record<string, unknown>;

/** Every problem Knative's webhook would report for this serving.knative.dev/v1 Service. */
export function knativeServiceProblems(doc: Obj): string[] {
  const problems: string[] = [];
  const name = (doc.metadata as Obj | undefined)?.name;
  if (typeof name !== 'string' || name.length > 63 || !DNS_1035_LABEL.test(name)) problems.push('metadata.name: must be a DNS-1035 label (≤ 63, starts with a letter)');
  const template = (doc.spec as Obj | undefined)?.template as Obj | undefined;
  const spec = template?.spec as Obj | undefined;
  if (!spec) return [...problems, 'spec.template.spec: required'];
  const at = 'spec.template.spec';
  disallowed(spec, REVISION_SPEC, at, problems);
  if (spec.automountServiceAccountToken === true) problems.push(`${at}.automountServiceAccountToken: Knative only accepts false`);
  const cc = spec.containerConcurrency;
  if (cc !== undefined && !(Number.isInteger(cc) && (cc as number) >= 0 && (cc as number) <= 1000)) problems.push(`${at}.containerConcurrency: 0…1000`);
  const timeout = spec.timeoutSeconds;
  if (timeout !== undefined && !(Number.isInteger(timeout) && (timeout as number) >= 0 && (timeout as number) <= 600)) {
    problems.push(`${at}.timeoutSeconds: 0…600 (max-revision-timeout-seconds)`);
  }
  const containers = (spec.containers ?? []) as Obj[];
  if (containers.length !== 1) problems.push(`${at}.containers: exactly one container (multi-container needs more ports and probes)`);
  containers.forEach((c, i) => containerProblems(c, `${at}.containers[${i}]`, problems));
  volumeProblems((spec.volumes ?? []) as Obj[], containers, at, problems);
  annotationProblems((template?.metadata as Obj | undefined)?.annotations as Obj | undefined, problems);
  return problems;
}

function containerProblems(c: Obj, at: string, problems: string[]): void {
  disallowed(c, CONTAINER, at, problems);
  if (RESERVED_CONTAINER_NAMES.includes(c.name as string)) problems.push(`${at}.name: ${String(c.name)} is reserved`);
  const ports = (c.ports ?? []) as Obj[];
  if (ports.length > 1) problems.push(`${at}.ports: at most one port`);
  for (const p of ports) {
    disallowed(p, PORT, `${at}.ports[]`, problems);
    if (p.name !== undefined && p.name !== 'http1' && p.name !== 'h2c') problems.push(`${at}.ports[].name: http1 or h2c`);
    if (p.protocol !== undefined && p.protocol !== 'TCP') problems.push(`${at}.ports[].protocol: TCP only`);
    if (RESERVED_PORTS.includes(p.containerPort as number)) problems.push(`${at}.ports[].containerPort: ${String(p.containerPort)} is the queue-proxy's`);
  }
  const containerPort = ports[0]?.containerPort ?? 8080;
  for (const env of (c.env ?? []) as Obj[]) {
    if (RESERVED_ENV.includes(env.name as string)) problems.push(`${at}.env: ${String(env.name)} is reserved by Knative`);
  }
  for (const key of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    const probe = c[key] as Obj | undefined;
    if (!probe) continue;
    disallowed(probe, PROBE, `${at}.${key}`, problems);
    const handlers = ['httpGet', 'tcpSocket', 'exec', 'grpc'].filter((h) => probe[h] !== undefined);
    if (handlers.length !== 1) problems.push(`${at}.${key}: exactly one of httpGet, tcpSocket, exec, grpc`);
    if (probe.successThreshold !== undefined && (probe.successThreshold as number) < 1) problems.push(`${at}.${key}.successThreshold: ≥ 1`);
    // A readiness probe without a period is Knative's aggressive start-up probe, which
    // takes no timeout or failure threshold (k8s_validation.go, validateReadinessProbe).
    if (key === 'readinessProbe' && !probe.periodSeconds) {
      for (const field of ['timeoutSeconds', 'failureThreshold']) {
        if (probe[field] !== undefined && probe[field] !== 0) problems.push(`${at}.${key}.${field}: disallowed when periodSeconds is zero or unset`);
      }
    }
    const get = probe.httpGet as Obj | undefined;
    if (get) {
      disallowed(get, HTTP_GET, `${at}.${key}.httpGet`, problems);
      if (get.port !== undefined && get.port !== containerPort) problems.push(`${at}.${key}.httpGet.port: must be the container port or left out`);
    }
  }
  const sc = c.securityContext as Obj | undefined;
  if (sc) {
    disallowed(sc, SECURITY_CONTEXT, `${at}.securityContext`, problems);
    const caps = sc.capabilities as Obj | undefined;
    if (caps?.add !== undefined) problems.push(`${at}.securityContext.capabilities.add: needs the kubernetes.containerspec-addcapabilities flag`);
  }
}

function volumeProblems(volumes: Obj[], containers: Obj[], at: string, problems: string[]): void {
  const names = new Set<string>();
  const mounted = new Set(containers.flatMap((c) => ((c.volumeMounts ?? []) as Obj[]).map((m) => m.name as string)));
  volumes.forEach((v, i) => {
    const where = `${at}.volumes[${i}]`;
    disallowed(v, VOLUME, where, problems);
    const name = v.name as string;
    if (typeof name !== 'string' || !DNS_1123_LABEL.test(name)) problems.push(`${where}.name: a DNS-1123 label`);
    if (names.has(name)) problems.push(`${where}.name: duplicate volume name ${name}`);
    names.add(name);
    if (!mounted.has(name)) problems.push(`${where}: volume ${name} is not mounted`);
    const sources = ['secret', 'configMap', 'projected'].filter((k) => v[k] !== undefined);
    if (sources.length !== 1) problems.push(`${where}: exactly one of secret, configMap, projected`);
    ((v.projected as Obj | undefined)?.sources as Obj[] | undefined ?? []).forEach((src, j) => {
      const w = `${where}.projected.sources[${j}]`;
      disallowed(src, PROJECTION, w, problems);
      if (PROJECTION.filter((k) => src[k] !== undefined).length !== 1) problems.push(`${w}: exactly one of secret, configMap, serviceAccountToken`);
      const token = src.serviceAccountToken as Obj | undefined;
      if (token) {
        disallowed(token, SA_TOKEN_PROJECTION, `${w}.serviceAccountToken`, problems);
        if (!token.path) problems.push(`${w}.serviceAccountToken.path: required`);
      }
      for (const kind of ['secret', 'configMap'] as const) {
        const ref = src[kind] as Obj | undefined;
        if (!ref) continue;
        if (!ref.name) problems.push(`${w}.${kind}.name: required`);
        for (const item of (ref.items ?? []) as Obj[]) if (!item.key || !item.path) problems.push(`${w}.${kind}.items[]: key and path required`);
      }
    });
  });
  containers.forEach((c, i) => {
    const paths = new Set<string>();
    ((c.volumeMounts ?? []) as Obj[]).forEach((m, j) => {
      const where = `${at}.containers[${i}].volumeMounts[${j}]`;
      disallowed(m, VOLUME_MOUNT, where, problems);
      if (!names.has(m.name as string)) problems.push(`${where}.name: no volume ${String(m.name)}`);
      const path = String(m.mountPath ?? '').replace(/\/+$/, '') || '/';
      if (!String(m.mountPath ?? '').startsWith('/')) problems.push(`${where}.mountPath: an absolute path`);
      else if (RESERVED_PATHS.includes(path)) problems.push(`${where}.mountPath: ${path} is reserved`);
      if (paths.has(path)) problems.push(`${where}.mountPath: ${path} is mounted twice`);
      paths.add(path);
      if (m.readOnly !== true) problems.push(`${where}.readOnly: Knative requires true`);
    });
  });
}

function annotationProblems(annotations: Obj | undefined, problems: string[]): void {
  const scale: Record<string, number> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) {
    const m = /^autoscaling\.knative\.dev\/(.+)$/.exec(key);
    if (!m) continue;
    const name = m[1]!;
    if (!AUTOSCALING.has(name)) {
      problems.push(`annotation ${key}: not an autoscaling annotation Knative knows`);
      continue;
    }
    if (/^(min|max|initial)-?[sS]cale$/.test(name)) {
      if (typeof value !== 'string' || !/^\d+$/.test(value)) problems.push(`annotation ${key}: a non-negative integer string`);
      else scale[name.replace(/Scale$/, '-scale')] = Number(value);
    }
    if (name === 'scale-down-delay' || name === 'window' || name === 'scale-to-zero-pod-retention-period') {
      if (typeof value !== 'string' || !DURATION.test(value)) problems.push(`annotation ${key}: a Go duration like 30s or 5m`);
    }
  }
  const min = scale['min-scale'];
  const max = scale['max-scale'];
  if (min !== undefined && max !== undefined && max !== 0 && min > max) problems.push('annotations: min-scale is above max-scale');
}

function disallowed(obj: Obj, allowed: readonly string[], at: string, problems: string[]): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) problems.push(`${at}.${key}: not allowed by Knative (or misspelt)`);
}
