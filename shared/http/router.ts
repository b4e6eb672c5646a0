// One table of routes per API: method, path template, the role it needs, what it does and
// its handler. The router authenticates, matches, authorizes and decodes path parameters in
// one place, so adding a route with its role is one line in the table, and the index a client
// reads (`GET /`) is the same table the requests are served from.
//
//   path templates: `/v1/ideas/{id}` captures `id`; `{pause|resume}` captures `action`
//   order: public routes answer without credentials → 401 (no or unknown credential, for any
//   other path) → 404/405 → 403 (the role) → 400 (a malformed path parameter) → the handler
import type { Access, Identifier, Principal } from '../auth/principal.js';
import { authorize } from '../auth/principal.js';
import { NonRetriableError, NotFoundError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { errorResponse, pathParam, type Handler, type HttpRequest, type HttpResponse } from './index.js';

export type Method = 'GET' | 'POST' | 'PUT';

export interface RouteContext<D> {
  readonly deps: D;
  readonly req: HttpRequest;
  /** Percent-decoded path parameters. */
  readonly params: Readonly<Record<string, string>>;
  /** The verified caller; on public routes, an anonymous one with no role. */
  readonly principal: Principal;
}

export interface Route<D> {
  readonly method: Method;
  readonly path: string;
  readonly role: Access;
  readonly description: string;
  readonly handle: (ctx: RouteContext<D>) => Promise<HttpResponse>;
}

/** What the index lists: a route without its handler. */
export interface RouteDoc {
  readonly method: Method;
  readonly path: string;
  readonly role: Access;
  readonly description: string;
}

export function route<D>(method: Method, path: string, role: Access, description: string, handle: (ctx: RouteContext<D>) => Promise<HttpResponse>): Route<D> {
  return Object.freeze({ method, path, role, description, handle });
}

export function docsOf(routes: readonly Route<never>[]): RouteDoc[] {
  return routes.map(({ method, path, role, description }) => ({ method, path, role, description }));
}

interface Compiled<D> {
  readonly route: Route<D>;
  readonly re: RegExp;
  readonly names: readonly string[];
}

function compile<D>(r: Route<D>): Compiled<D> {
  const names: string[] = [];
  const source = r.path
    .split('/')
    .map((seg) => {
      const m = /^\{([^}]+)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (m[1]!.includes('|')) {
        names.push('action');
        return `(${m[1]!.split('|').join('|')})`;
      }
      names.push(m[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { route: r, re: new RegExp(`^${source}$`), names };
}

const NOBODY: Principal = Object.freeze({ via: 'open', name: 'anonymous', roles: [], actor: 'anonymous' });

export function createRouter<D>(routes: readonly Route<D>[], deps: D, opts: { identifier: Identifier; log?: Logger }): Handler {
  const table = routes.map(compile);
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) throw new Error(`route ${key} is declared twice`);
    seen.add(key);
  }
  return async (req) => {
    try {
      const onPath = table.flatMap((c) => {
        const m = c.re.exec(req.path);
        return m ? [{ c, m }] : [];
      });
      const hit = onPath.find((x) => x.c.route.method === req.method);
      const principal = hit?.c.route.role === 'public' ? NOBODY : opts.identifier.identify(req);
      if (!hit) {
        if (onPath.length === 0) throw new NotFoundError(`no route ${req.method.slice(0, 10)} ${req.path.slice(0, 200)}`);
        const allowed = [...new Set(onPath.map((x) => x.c.route.method))].join(', ');
        throw new NonRetriableError('method_not_allowed', `${req.method.slice(0, 10)} is not allowed on ${req.path.slice(0, 200)}; use ${allowed}`);
      }
      authorize(principal, hit.c.route.role);
      const params: Record<string, string> = Object.create(null);
      hit.c.names.forEach((name, i) => (params[name] = pathParam(hit.m[i + 1]!, name)));
      return await hit.c.route.handle({ deps, req, params, principal });
    } catch (err) {
      return errorResponse(err, opts.log);
    }
  };
}
