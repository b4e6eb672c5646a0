// Offline validation of a Knative KafkaSource (sources.knative.dev/v1beta1).
//
// @kubernetes-models/knative is generated from the core Serving/Eventing CRDs only; the
// KafkaSource CRD ships with eventing-kafka-broker, and its schema validates almost
// nothing anyway (`x-kubernetes-preserve-unknown-fields: true`, only `spec.ordering` typed):
// the real checks live in its admission webhook. This ports those checks
// (control-plane/pkg/apis/sources/v1beta1/kafka_validation.go, after the webhook's
// defaulting; the duck/v1 SourceSpec sink and eventing duck/v1 DeliverySpec rules), and
// adds what the cluster would not say: a misspelt optional field is kept and silently
// ignored there (a typo in `consumerGroup` would quietly give a random group), so unknown
// fields are refused here.

export interface Destination {
  readonly ref?: { readonly apiVersion?: string; readonly kind?: string; readonly name?: string; readonly namespace?: string };
  readonly uri?: string;
  /** OIDC audience of the sink (Knative Eventing `authentication-oidc`): the token's `aud`. */
  readonly audience?: string;
}

export interface KafkaSourceSpec {
  readonly bootstrapServers?: readonly string[];
  readonly topics?: readonly string[];
  readonly consumerGroup?: string;
  readonly consumers?: number;
  readonly initialOffset?: string;
  readonly ordering?: string;
  readonly net?: Readonly<Record<string, unknown>>;
  readonly delivery?: {
    readonly retry?: number;
    readonly backoffPolicy?: string;
    readonly backoffDelay?: string;
    readonly timeout?: string;
    readonly deadLetterSink?: Destination;
  };
  readonly sink?: Destination;
  readonly ceOverrides?: { readonly extensions?: Readonly<Record<string, string>> };
}

export interface KafkaSource {
  readonly apiVersion: 'sources.knative.dev/v1beta1';
  readonly kind: 'KafkaSource';
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: KafkaSourceSpec;
}

const TOP = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const SPEC = ['bootstrapServers', 'topics', 'consumerGroup', 'consumers', 'initialOffset', 'ordering', 'net', 'delivery', 'sink', 'ceOverrides'];
const NET = ['sasl', 'tls'];
const DELIVERY = ['retry', 'backoffPolicy', 'backoffDelay', 'timeout', 'deadLetterSink', 'retryAfterMax', 'format'];
const DESTINATION = ['ref', 'uri', 'CACerts', 'audience'];
const REF = ['apiVersion', 'kind', 'name', 'namespace'];
// ISO 8601 duration, as knative.dev's period parser accepts it (PT1S, PT0.5S, P1DT2H …).
const DURATION = /^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** Every problem the KafkaSource webhook (and a strict reading of its fields) would find. */
export function kafkaSourceProblems(doc: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(doc)) return ['the document is not an object'];
  unknownKeys(doc, TOP, '', problems);
  if (doc.apiVersion !== 'sources.knative.dev/v1beta1') problems.push('apiVersion: must be sources.knative.dev/v1beta1');
  if (doc.kind !== 'KafkaSource') problems.push('kind: must be KafkaSource');
  if (!isObject(doc.metadata) || typeof doc.metadata.name !== 'string') problems.push('metadata.name: required');
  const spec = doc.spec;
  if (!isObject(spec)) return [...problems, 'spec: required'];
  unknownKeys(spec, SPEC, 'spec.', problems);

  if (!nonEmptyStrings(spec.topics)) problems.push('spec.topics: required, a non-empty list of topic names');
  else for (const t of spec.topics) if (!TOPIC.test(t)) problems.push(`spec.topics: ${JSON.stringify(t)} is not a Kafka topic name`);
  if (!nonEmptyStrings(spec.bootstrapServers)) problems.push('spec.bootstrapServers: required, a non-empty list of host:port');
  else for (const s of spec.bootstrapServers) if (!HOST_PORT.test(s)) problems.push(`spec.bootstrapServers: ${JSON.stringify(s)} is not host:port`);
  if (spec.consumerGroup !== undefined && (typeof spec.consumerGroup !== 'string' || spec.consumerGroup === '')) {
    problems.push('spec.consumerGroup: must be a non-empty string');
  }
  if (spec.consumers !== undefined && !(Number.isInteger(spec.consumers) && (spec.consumers as number) >= 1)) {
    problems.push('spec.consumers: must be an integer ≥ 1');
  }
  // The webhook defaults an absent initialOffset to `latest` before validating it.
  const offset = spec.initialOffset ?? 'latest';
  if (offset !== 'earliest' && offset !== 'latest') problems.push(`spec.initialOffset: ${JSON.stringify(offset)} is not earliest or latest`);
  if (spec.ordering !== undefined && spec.ordering !== 'ordered' && spec.ordering !== 'unordered') {
    problems.push(`spec.ordering: ${JSON.stringify(spec.ordering)} is not ordered or unordered`);
  }
  if (spec.net !== undefined) {
    if (!isObject(spec.net)) problems.push('spec.net: must be an object');
    else unknownKeys(spec.net, NET, 'spec.net.', problems);
  }
  if (spec.ceOverrides !== undefined) {
    if (!isObject(spec.ceOverrides)) problems.push('spec.ceOverrides: must be an object');
    else unknownKeys(spec.ceOverrides, ['extensions'], 'spec.ceOverrides.', problems);
  }
  if (spec.sink === undefined) problems.push('spec.sink: required');
  else destinationProblems(spec.sink, 'spec.sink', problems);
  if (spec.delivery !== undefined) deliveryProblems(spec.delivery, problems);
  return problems;
}

function deliveryProblems(d: unknown, problems: string[]): void {
  if (!isObject(d)) {
    problems.push('spec.delivery: must be an object');
    return;
  }
  unknownKeys(d, DELIVERY, 'spec.delivery.', problems);
  if (d.retry !== undefined && !(Number.isInteger(d.retry) && (d.retry as number) >= 0)) problems.push('spec.delivery.retry: must be an integer ≥ 0');
  if (d.backoffPolicy !== undefined && d.backoffPolicy !== 'linear' && d.backoffPolicy !== 'exponential') {
    problems.push(`spec.delivery.backoffPolicy: ${JSON.stringify(d.backoffPolicy)} is not linear or exponential`);
  }
  for (const key of ['backoffDelay', 'timeout', 'retryAfterMax'] as const) {
    const v = d[key];
    if (v !== undefined && (typeof v !== 'string' || !DURATION.test(v))) problems.push(`spec.delivery.${key}: ${JSON.stringify(v)} is not an ISO 8601 duration`);
  }
  if (d.deadLetterSink !== undefined) destinationProblems(d.deadLetterSink, 'spec.delivery.deadLetterSink', problems);
}

/** duck/v1 Destination: a ref, an absolute URI, or a ref plus a URI relative to it. */
export function destinationProblems(dest: unknown, path: string, problems: string[]): void {
  if (!isObject(dest)) {
    problems.push(`${path}: must be an object`);
    return;
  }
  unknownKeys(dest, DESTINATION, `${path}.`, problems);
  if (dest.audience !== undefined && (typeof dest.audience !== 'string' || dest.audience === '')) problems.push(`${path}.audience: must be a non-empty string`);
  const { ref, uri } = dest;
  if (ref === undefined && uri === undefined) problems.push(`${path}: needs a ref or a uri`);
  if (uri !== undefined) {
    if (typeof uri !== 'string' || uri === '') problems.push(`${path}.uri: must be a non-empty string`);
    else if (ref === undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) problems.push(`${path}.uri: must be absolute when there is no ref`);
    else if (ref !== undefined && /^[a-z][a-z0-9+.-]*:/i.test(uri)) problems.push(`${path}.uri: must be relative when there is a ref`);
  }
  if (ref !== undefined) {
    if (!isObject(ref)) {
      problems.push(`${path}.ref: must be an object`);
      return;
    }
    unknownKeys(ref, REF, `${path}.ref.`, problems);
    for (const key of ['apiVersion', 'kind', 'name'] as const) {
      if (typeof ref[key] !== 'string' || ref[key] === '') problems.push(`${path}.ref.${key}: required`);
    }
  }
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(obj)) if (!known.includes(key)) problems.push(`${prefix}${key}: unknown field`);
}

function nonEmptyStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
