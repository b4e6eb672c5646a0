// A FAKE Kubernetes API server, in process, at the HTTP boundary: just enough of
// `/apis/argoproj.io/v1alpha1/namespaces/{ns}/{workflows,workflowtemplates}[/{name}]` and
// `/api/v1/namespaces/{ns}/secrets[/{name}]` for @kubernetes/client-node to run for real
// against it (no cluster can be reached here). It answers with the real status codes and
// the garbage the way the real collector does (an object whose every owner is gone is
// deleted), and can be told to fail on purpose.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { PREFIX, CORE, MODELS, resource, DNS_SUBDOMAIN, LABEL_VALUE, LABEL_KEY, HttpFailure, group, deleted, secretData, status, send, readBody, parse, parseObject, parseSelector, mergePatch, type Obj, type Plural } from './fake-kube-wire.js';
export type { Plural } from './fake-kube-wire.js';

export type Failure = number | 'timeout' | 'reset';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  readonly time: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed JSON when it was JSON, else the text ('' when empty). */
  readonly body: unknown;
  /** Set when the answer was a failure injected with `failNext`. */
  readonly injected?: Failure;
}

export interface FakeKube {
  readonly url: string;
  /** Every request, injected failures included, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  kubeConfig(): KubeConfig;
  /** The next `n` requests (any route) fail: an HTTP status, no answer at all, or a reset socket. */
  failNext(n: number, failure: Failure, retryAfter?: number | string): void;
  /** The next `n` requests that match fail (after any `failNext` ones), others pass. */
  failMatching(match: (req: { method: string; path: string }) => boolean, n: number, failure: Failure, retryAfter?: number | string): void;
  /** First workflow created (before or after this call) that matches; rejects after timeoutMs. */
  waitForCreate(predicate?: (workflow: Obj) => boolean, timeoutMs?: number): Promise<Obj>;
  /** Runs when a request has arrived, before anything is done with it (to hold it while a test acts). Returns an unsubscribe. */
  onRequest(hook: (req: { method: string; path: string }) => void | Promise<void>): () => void;
  /** Runs after each create is stored, before the 201; a throw turns the answer into a 500. Returns an unsubscribe. */
  onCreate(hook: (workflow: Obj) => void | Promise<void>): () => void;
  /** Stored workflows (copies), optionally in one namespace. */
  workflows(namespace?: string): Obj[];
  /** Stored Secrets (copies), optionally in one namespace. */
  secrets(namespace?: string): Obj[];
  /** Moves an object's creationTimestamp `seconds` into the past (time passing, for age-based sweeps). */
  age(namespace: string, name: string, seconds: number, plural?: Plural): void;
  /** What Argo's controller would do: replace a workflow's status. */
  setStatus(namespace: string, name: string, status: Obj): void;
  close(): Promise<void>;
}


export async function startFakeKube(): Promise<FakeKube> {
  const store = new Map<string, Obj>(); // `${plural}/${ns}/${name}`
  const byUid = new Map<string, string>(); // uid → store key (a uid never changes; set on create, dropped on delete)
  const requests: RecordedRequest[] = [];
  const creates: Obj[] = [];
  const failures: { failure: Failure; retryAfter?: number | string }[] = [];
  const matchers: { match: (req: { method: string; path: string }) => boolean; left: number; failure: Failure; retryAfter?: number | string }[] = [];
  const createHooks = new Set<(w: Obj) => void | Promise<void>>();
  const requestHooks = new Set<(req: { method: string; path: string }) => void | Promise<void>>();
  const waiters = new Set<{ predicate: (w: Obj) => boolean; resolve: (w: Obj) => void }>();
  const sockets = new Set<Socket>();
  let resourceVersion = 1000;
  const clone = (o: Obj): Obj => structuredClone(o);

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, status(new HttpFailure(500, `fake-kube: ${String(err)}`)));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const method = req.method ?? 'GET';
    for (const hook of requestHooks) await hook({ method, path: req.url ?? '/' });
    const injected = failures.shift() ?? takeMatching(method, req.url ?? '/');
    requests.push({ method, path: req.url ?? '/', time: Date.now(), headers: { ...req.headers }, body: parse(text), ...(injected ? { injected: injected.failure } : {}) });
    if (injected) {
      if (injected.failure === 'reset') return void req.socket.destroy();
      if (injected.failure === 'timeout') return; // never answered; close() destroys the socket
      const headers: Record<string, string> = injected.retryAfter !== undefined ? { 'retry-after': String(injected.retryAfter) } : {};
      return send(res, injected.failure, status(new HttpFailure(injected.failure, `fake-kube: injected ${injected.failure}`)), headers);
    }
    try {
      const u = new URL(req.url ?? '/', url);
      const m = PREFIX.exec(u.pathname) ?? CORE.exec(u.pathname);
      if (!m) throw new HttpFailure(404, 'the server could not find the requested resource');
      const [, ns = '', plural = 'workflows', name] = m as unknown as [string, string, Plural, string | undefined];
      const key = (n: string) => `${plural}/${ns}/${n}`;
      const notFound = (n: string) =>
        new HttpFailure(404, `${resource(plural)} "${n}" not found`, 'NotFound', { name: n, ...group(plural), kind: plural });
      if (method === 'POST' && !name) return send(res, 201, await create(plural, ns, text));
      if (method === 'GET' && !name) return send(res, 200, list(plural, ns, u.searchParams.get('labelSelector')));
      if (!name) throw new HttpFailure(405, `method ${method} not allowed`, 'MethodNotAllowed');
      const existing = store.get(key(name));
      if (!existing) throw notFound(name);
      if (method === 'GET') return send(res, 200, existing);
      if (method === 'DELETE') {
        checkPreconditions(plural, existing, text);
        store.delete(key(name));
        byUid.delete(existing.metadata.uid);
        collectGarbage(ns);
        return send(res, 200, plural === 'secrets' ? deleted(plural, existing) : existing);
      }
      if (method === 'PATCH') {
        const type = String(req.headers['content-type'] ?? '').split(';')[0];
        if (type !== 'application/merge-patch+json') throw new HttpFailure(415, `the fake supports only merge-patch, got ${type}`);
        const patched = mergePatch(existing, parseObject(text)) as Obj;
        patched.metadata = { ...patched.metadata, name, namespace: ns, uid: existing.metadata.uid, resourceVersion: String(++resourceVersion) };
        if (plural === 'secrets') validate(plural, patched, name);
        store.set(key(name), patched);
        collectGarbage(ns, key(name));
        return send(res, 200, patched);
      }
      throw new HttpFailure(405, `method ${method} not allowed`, 'MethodNotAllowed');
    } catch (err) {
      if (!(err instanceof HttpFailure)) throw err;
      send(res, err.status, status(err));
    }
  }

  async function create(plural: Plural, ns: string, text: string): Promise<Obj> {
    const { kind, apiVersion } = MODELS[plural];
    const body = parseObject(text);
    if (body.apiVersion !== apiVersion || body.kind !== kind) {
      throw new HttpFailure(400, `expected ${apiVersion} ${kind}, got ${body.apiVersion}/${body.kind}`);
    }
    if (plural === 'secrets') secretData(body);
    const meta: Obj = { ...(body.metadata ?? {}) };
    if (meta.namespace !== undefined && meta.namespace !== ns) {
      throw new HttpFailure(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    const name = String(meta.name ?? '');
    validate(plural, { ...body, metadata: meta }, name);
    if (store.has(`${plural}/${ns}/${name}`)) {
      throw new HttpFailure(409, `${resource(plural)} "${name}" already exists`, 'AlreadyExists', { name, ...group(plural), kind: plural });
    }
    const stored = {
      ...body,
      metadata: {
        ...meta, name, namespace: ns, uid: randomUUID(), resourceVersion: String(++resourceVersion), generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
    store.set(`${plural}/${ns}/${name}`, stored);
    byUid.set(stored.metadata.uid, `${plural}/${ns}/${name}`);
    // A dependent created with owners that do not exist is collected at once.
    if (plural === 'secrets') collectGarbage(ns, `${plural}/${ns}/${name}`);
    if (plural === 'workflows') {
      creates.push(stored);
      for (const w of waiters) if (w.predicate(stored)) w.resolve(clone(stored));
      // A throwing hook answers 500 with the object stored: a create that landed but was not acknowledged.
      for (const hook of createHooks) await hook(clone(stored));
    }
    return stored;
  }

  function list(plural: Plural, ns: string, selector: string | null): Obj {
    const matches = selector ? parseSelector(selector) : () => true;
    const items = [...store.entries()]
      .filter(([k, o]) => k.startsWith(`${plural}/${ns}/`) && matches((o.metadata.labels ?? {}) as Record<string, string>))
      .map(([, o]) => o);
    return { apiVersion: MODELS[plural].apiVersion, kind: `${MODELS[plural].kind}List`, metadata: { resourceVersion: String(resourceVersion) }, items };
  }

  /** The checks of the API server on a whole object (a create, or the result of a patch). */
  function validate(plural: Plural, body: Obj, name: string): void {
    const { kind, model } = MODELS[plural];
    const meta: Obj = body.metadata ?? {};
    const invalid = (field: string, message: string) =>
      new HttpFailure(422, `${kind}${MODELS[plural].group ? `.${MODELS[plural].group}` : ''} "${name}" is invalid: ${field}: ${message}`, 'Invalid', {
        name, ...group(plural), kind, causes: [{ reason: 'FieldValueInvalid', message, field }],
      });
    if (!name) throw invalid('metadata.name', 'Required value: name or generateName is required');
    if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) throw invalid('metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 subdomain`);
    for (const [k, v] of Object.entries((meta.labels ?? {}) as Obj)) {
      if (!LABEL_KEY.test(k)) throw invalid('metadata.labels', `Invalid value: "${k}": not a qualified name`);
      if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) throw invalid(`metadata.labels`, `Invalid value: "${String(v)}": not a valid label value`);
    }
    for (const [i, ref] of ((meta.ownerReferences ?? []) as Obj[]).entries()) {
      if (!ref?.uid) throw invalid(`metadata.ownerReferences[${i}].uid`, 'Invalid value: "": uid must not be empty');
    }
    try {
      new model(body as never).validate();
    } catch (err) {
      throw invalid(plural === 'secrets' ? 'data' : 'spec', (err as Error).message);
    }
  }

  /** DeleteOptions.preconditions, as the API server checks them (409 Conflict). */
  function checkPreconditions(plural: Plural, existing: Obj, text: string): void {
    const options = text.trim() === '' ? {} : parseObject(text);
    const pre: Obj = options.preconditions ?? {};
    const name = existing.metadata.name;
    const conflict = (field: string, want: string, has: string, why: string) =>
      new HttpFailure(409, `Operation cannot be fulfilled on ${resource(plural)} "${name}": the ${field} in the precondition (${want}) does not match the ${field} in record (${has}). ${why}`,
        'Conflict', { name, ...group(plural), kind: plural });
    if (pre.uid != null && pre.uid !== existing.metadata.uid) throw conflict('UID', pre.uid, existing.metadata.uid, 'The object might have been deleted and then recreated');
    if (pre.resourceVersion != null && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict('ResourceVersion', pre.resourceVersion, existing.metadata.resourceVersion, 'The object might have been modified');
    }
  }

  /**
   * The garbage collector: an object with owner references all of whose owners are gone
   * (no object of that kind and uid in the namespace) is deleted, and so on down the chain.
   * Owners of kinds this fake does not store are taken to exist. With `only`, just that
   * object is checked (a create or patch cannot orphan anything else).
   */
  function collectGarbage(ns: string, only?: string): void {
    const kinds = new Map(Object.entries(MODELS).map(([plural, m]) => [`${m.apiVersion}/${m.kind}`, plural]));
    const orphaned = (o: Obj | undefined) => {
      const refs = (o?.metadata.ownerReferences ?? []) as Obj[];
      return refs.length > 0 && refs.every((ref) => {
        const plural = kinds.get(`${ref.apiVersion}/${ref.kind}`);
        return plural !== undefined && !byUid.get(ref.uid)?.startsWith(`${plural}/${ns}/`);
      });
    };
    for (let changed = true; changed; ) {
      changed = false;
      for (const k of only ? [only] : [...store.keys()]) {
        const o = store.get(k);
        if (!k.includes(`/${ns}/`) || !orphaned(o)) continue;
        store.delete(k);
        byUid.delete(o!.metadata.uid);
        changed = !only;
      }
    }
  }

  function takeMatching(method: string, path: string): { failure: Failure; retryAfter?: number | string } | undefined {
    const m = matchers.find((x) => x.left > 0 && x.match({ method, path }));
    if (!m) return undefined;
    m.left--;
    return m.retryAfter === undefined ? { failure: m.failure } : { failure: m.failure, retryAfter: m.retryAfter };
  }

  return {
    url,
    requests,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake-kube', server: url, skipTLSVerify: true }], // plain http needs skipTLSVerify
        users: [{ name: 'fake-kube' }],
        contexts: [{ name: 'fake-kube', cluster: 'fake-kube', user: 'fake-kube' }],
        currentContext: 'fake-kube',
      });
      return kc;
    },
    failNext(n, failure, retryAfter) {
      for (let i = 0; i < n; i++) failures.push(retryAfter === undefined ? { failure } : { failure, retryAfter });
    },
    failMatching(match, n, failure, retryAfter) {
      matchers.push(retryAfter === undefined ? { match, left: n, failure } : { match, left: n, failure, retryAfter });
    },
    waitForCreate(predicate = () => true, timeoutMs = 5_000) {
      const done = creates.find(predicate);
      if (done) return Promise.resolve(clone(done));
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (w: Obj) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(w);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`fake-kube: no matching workflow created within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    onRequest(hook) {
      requestHooks.add(hook);
      return () => void requestHooks.delete(hook);
    },
    onCreate(hook) {
      createHooks.add(hook);
      return () => void createHooks.delete(hook);
    },
    workflows(namespace) {
      return [...store.entries()].filter(([k]) => k.startsWith(namespace ? `workflows/${namespace}/` : 'workflows/')).map(([, o]) => clone(o));
    },
    secrets(namespace) {
      return [...store.entries()].filter(([k]) => k.startsWith(namespace ? `secrets/${namespace}/` : 'secrets/')).map(([, o]) => clone(o));
    },
    age(namespace, name, seconds, plural = 'secrets') {
      const o = store.get(`${plural}/${namespace}/${name}`);
      if (!o) throw new Error(`fake-kube: no ${plural} ${namespace}/${name}`);
      const at = new Date(Date.parse(o.metadata.creationTimestamp) - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      store.set(`${plural}/${namespace}/${name}`, { ...o, metadata: { ...o.metadata, creationTimestamp: at } });
    },
    setStatus(namespace, name, s) {
      const o = store.get(`workflows/${namespace}/${name}`);
      if (!o) throw new Error(`fake-kube: no workflow ${namespace}/${name}`);
      store.set(`workflows/${namespace}/${name}`, { ...o, status: s, metadata: { ...o.metadata, resourceVersion: String(++resourceVersion) } });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

