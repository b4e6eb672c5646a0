// The FAKE Kubernetes API server's wire side (./fake-kube.ts): the models it checks bodies
// against, its `Status` errors, and the JSON, selector and merge-patch helpers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Workflow, WorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1';
import { Secret } from 'kubernetes-models/v1/Secret';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON on both sides
export type Obj = Record<string, any>;

export const PREFIX = /^\/apis\/argoproj\.io\/v1alpha1\/namespaces\/([^/]+)\/(workflows|workflowtemplates)(?:\/([^/]+))?$/;
export const CORE = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets)(?:\/([^/]+))?$/;
export const ARGO = { group: 'argoproj.io', apiVersion: 'argoproj.io/v1alpha1' } as const;
export const MODELS = {
  workflows: { kind: 'Workflow', model: Workflow, ...ARGO },
  workflowtemplates: { kind: 'WorkflowTemplate', model: WorkflowTemplate, ...ARGO },
  secrets: { kind: 'Secret', model: Secret, group: '', apiVersion: 'v1' },
} as const;
export type Plural = keyof typeof MODELS;
/** `secrets`, `workflows.argoproj.io`: how the API names a resource in its messages. */
export const resource = (plural: Plural) => (MODELS[plural].group ? `${plural}.${MODELS[plural].group}` : plural);
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'AlreadyExists', 415: 'UnsupportedMediaType',
  422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

export class HttpFailure extends Error {
  constructor(readonly status: number, message: string, readonly reason = REASONS[status] ?? 'Unknown', readonly details: Obj = {}) {
    super(message);
  }
}

export function group(plural: Plural): { group?: string } {
  return MODELS[plural].group ? { group: MODELS[plural].group } : {};
}

/** What DELETE of a core object answers: a Success Status naming it. */
export function deleted(plural: Plural, o: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: o.metadata.name, kind: plural, uid: o.metadata.uid } };
}

/**
 * A Secret's `data` as the API server decodes it: base64 values, else a 400 before any
 * validation (the JSON does not decode into bytes); `stringData` is merged into `data`.
 */
export function secretData(body: Obj): void {
  for (const [k, v] of Object.entries((body.data ?? {}) as Obj)) {
    if (typeof v !== 'string' || !BASE64.test(v)) {
      throw new HttpFailure(400, `Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data.${k}`);
    }
  }
  if (body.stringData && typeof body.stringData === 'object') {
    const data: Obj = { ...(body.data ?? {}) };
    for (const [k, v] of Object.entries(body.stringData as Obj)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    body.data = data;
    delete body.stringData;
  }
}

export function status(err: HttpFailure): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason, details: err.details, code: err.status };
}

export function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function parse(text: string): unknown {
  try {
    return text === '' ? '' : JSON.parse(text);
  } catch {
    return text;
  }
}

export function parseObject(text: string): Obj {
  const body = parse(text);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpFailure(400, 'the request body is not a JSON object');
  return body as Obj;
}

/** Equality-based selectors only (`a=b`, `a==b`, `a!=b`, `a`, `!a`): all Facteur uses. */
export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  if (/[()]/.test(selector)) throw new HttpFailure(400, `fake-kube: set-based selectors are not supported: ${selector}`);
  const tests = selector.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const m = /^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(part);
    if (!m) throw new HttpFailure(400, `unable to parse requirement: ${part}`);
    const [, not, key = '', op, value = ''] = m;
    if (!op) return (l: Record<string, string>) => (key in l) !== (not === '!');
    return op === '!=' ? (l: Record<string, string>) => l[key] !== value : (l: Record<string, string>) => l[key] === value;
  });
  return (labels) => tests.every((t) => t(labels));
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Obj = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
