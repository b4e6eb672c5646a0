// Reads a CloudEvent delivered over HTTP by Knative's KafkaSource, in binary mode (`ce-*`
// headers, body = Kafka record value) or structured mode (application/cloudevents+json).
// The record value is kept as raw bytes: what it means depends on the topic.
import { CloudEvent, ValidationError as CeValidationError } from 'cloudevents';
import { ValidationError, type Issue } from '../errors/index.js';
import type { HttpRequest } from '../http/index.js';
import { badText, parseJsonBytes, printable, requireUtf8Charset } from '../validation/index.js';
import { validTraceparent } from '../telemetry/traceparent.js';

export interface ReceivedEvent {
  readonly mode: 'binary' | 'structured';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string | undefined;
  readonly time: string | undefined;
  /** The Kafka topic, from the `#topic` fragment of a KafkaSource `source`. */
  readonly topic: string | undefined;
  /** The Kafka record key (`ce-key`). */
  readonly key: string | undefined;
  /** Kafka record headers as KafkaSource forwards them: lower-cased, dashes removed. */
  readonly kafkaHeaders: Readonly<Record<string, string>>;
  /** Other extension attributes. */
  readonly extensions: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly data: Buffer;
  /** The W3C traceparent of the event (the CloudEvents distributed-tracing extension, else the HTTP header), only when valid. */
  readonly traceparent: string | undefined;
}

const CORE = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema']);

export function isStructured(contentType: string | undefined): boolean {
  return /^application\/cloudevents\+json\b/i.test(contentType ?? '');
}

export function parseCloudEvent(req: HttpRequest): ReceivedEvent {
  const contentType = req.headers['content-type'];
  if (isStructured(contentType)) return parseStructured(req);
  if (req.headers['ce-specversion'] === undefined) {
    throw new ValidationError('not a CloudEvent: no ce-specversion header and not application/cloudevents+json', [
      { path: 'headers.ce-specversion', message: 'is required in binary mode' },
    ], 'not_a_cloudevent');
  }
  const attrs: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('ce-')) attrs[name.slice(3)] = decodeHeader(value);
  }
  return build('binary', attrs, contentType, req.body, req.headers['traceparent']);
}

function parseStructured(req: HttpRequest): ReceivedEvent {
  requireUtf8Charset(req.headers['content-type']);
  const envelope = parseJsonBytes(req.body, 'structured CloudEvent');
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)) {
    throw new ValidationError('structured CloudEvent must be a JSON object', [{ path: 'body', message: 'expected an object' }]);
  }
  const e = envelope as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  const issues: Issue[] = [];
  for (const [k, v] of Object.entries(e)) {
    // a traceparent that is not even a string is ignored like any other malformed one (build)
    if (k === 'data' || k === 'data_base64' || (k === 'traceparent' && typeof v !== 'string')) continue;
    if (typeof v === 'string') attrs[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') attrs[k] = String(v);
    else issues.push({ path: k, message: 'attribute must be a string' });
  }
  let data: Buffer;
  if (typeof e['data_base64'] === 'string') data = Buffer.from(e['data_base64'], 'base64');
  else if (typeof e['data'] === 'string' && !/json/i.test(attrs['datacontenttype'] ?? 'application/json')) data = Buffer.from(e['data'], 'utf8');
  else if (e['data'] === undefined) data = Buffer.alloc(0);
  else data = Buffer.from(JSON.stringify(e['data']), 'utf8');
  if (issues.length) throw new ValidationError('invalid CloudEvent attributes', issues);
  return build('structured', attrs, attrs['datacontenttype'], data, req.headers['traceparent']);
}

function build(
  mode: ReceivedEvent['mode'],
  attrs: Record<string, string>,
  contentType: string | undefined,
  data: Buffer,
  httpTraceparent: string | undefined,
): ReceivedEvent {
  // The distributed-tracing extension (`ce-traceparent`, or the structured attribute) names
  // the context the event was created in; the HTTP header only the last hop's. Either is
  // taken only when valid: a malformed one is ignored (a new root), never a reason to refuse.
  const traceparent = validTraceparent(attrs['traceparent']) ?? validTraceparent(httpTraceparent);
  delete attrs['traceparent'];
  const issues: Issue[] = [];
  const where = mode === 'binary' ? 'headers.ce-' : '';
  // attributes are stored (deliveries, dead letters) and echoed: `%00` in a header is a NUL
  for (const [k, v] of Object.entries(attrs)) {
    const bad = badText(v);
    if (bad) issues.push({ path: `${where}${printable(k)}`, message: bad });
  }
  if (attrs['specversion'] !== '1.0') issues.push({ path: `${where}specversion`, message: `must be "1.0", got ${JSON.stringify(attrs['specversion'] ?? null)}` });
  for (const name of ['id', 'source', 'type'] as const) {
    if (!attrs[name]) issues.push({ path: `${where}${name}`, message: 'is required and must not be empty' });
  }
  if (issues.length === 0) {
    // The SDK checks the finer points (URI-reference source, RFC 3339 time, attribute names).
    try {
      const ext: Record<string, string> = {};
      for (const [k, v] of Object.entries(attrs)) if (!CORE.has(k) && /^[a-z0-9]{1,20}$/.test(k)) ext[k] = v;
      new CloudEvent({ ...ext, specversion: '1.0', id: attrs['id']!, source: attrs['source']!, type: attrs['type']!, ...(attrs['time'] ? { time: attrs['time'] } : {}), ...(attrs['subject'] ? { subject: attrs['subject'] } : {}) }, true);
    } catch (err) {
      if (!(err instanceof CeValidationError)) throw err;
      for (const e of (err.errors ?? []) as { instancePath?: string; message?: string }[]) {
        issues.push({ path: `${where}${(e.instancePath ?? '').replace(/^\//, '')}`, message: e.message ?? 'invalid' });
      }
      if (!err.errors?.length) issues.push({ path: where + 'event', message: err.message });
    }
  }
  if (issues.length) throw new ValidationError('invalid CloudEvent', issues, 'invalid_cloudevent');
  const kafkaHeaders: Record<string, string> = {};
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('kafkaheader')) kafkaHeaders[k.slice('kafkaheader'.length)] = v;
    else if (!CORE.has(k) && k !== 'key') extensions[k] = v;
  }
  const source = attrs['source']!;
  const hash = source.lastIndexOf('#');
  return Object.freeze({
    mode,
    id: attrs['id']!,
    source,
    type: attrs['type']!,
    subject: attrs['subject'],
    time: attrs['time'],
    topic: hash >= 0 ? source.slice(hash + 1) || undefined : undefined,
    key: attrs['key'],
    kafkaHeaders: Object.freeze(kafkaHeaders),
    extensions: Object.freeze(extensions),
    contentType,
    data,
    traceparent,
  });
}

/** Binary-mode attribute values are percent-encoded (CloudEvents HTTP binding §3.1.3.2). */
function decodeHeader(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
