// Local mode's HTTP server: every function under its own path on one port. It listens
// first, before the database opens, so a port clash fails before any file is touched
// (requests meanwhile answer 503 "starting"). While shutting down it keeps serving
// /callbacks only: the stages still running report their results through it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody, type Handler, type HttpResponse } from '../http/index.js';
import { readRequest, writeResponse } from '../http/node.js';
import type { Logger } from '../log/index.js';
import { StartupError } from './errors.js';
import { homePage, rootPage, type HomeInfo } from './home.js';

export interface Routes {
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly home: HomeInfo;
  /** After a function answered (intake: relay what it accepted at once). */
  readonly answered?: (fn: string, res: HttpResponse) => void;
}

export interface LocalServer {
  /** Takes the port; a StartupError when it is in use. Returns the port (PORT=0 picks one). */
  listen(port: number): Promise<number>;
  serve(routes: Routes): void;
  /** Refuses everything but /callbacks from now on. */
  drain(): void;
  /** Waits (at most `ms`) for the requests in progress to be answered. */
  flush(ms: number): Promise<number>;
  close(): Promise<void>;
}

/** While shutting down, only the stages' reports get through. */
const SERVED_WHILE_DRAINING = new Set(['callbacks']);

export function createLocalServer(opts: { maxBodyBytes: number; log: Logger }): LocalServer {
  let routes: Routes | undefined;
  let draining = false;
  let inFlight = 0;
  const unavailable = (code: string, message: string): HttpResponse => ({
    status: 503,
    headers: { 'retry-after': '1', ...(draining ? { connection: 'close' } : {}) },
    body: errorBody(code, message),
  });

  const server: Server = createServer((req, res) => {
    inFlight++;
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.once('close', done);
    const url = req.url ?? '/';
    const first = /^\/([a-z]+)(\/|$|\?)/.exec(url)?.[1] ?? '';
    const handler = routes?.handlers.get(first);
    const refuse = (out: HttpResponse) => {
      req.resume();
      writeResponse(res, out);
    };
    if (!routes) return refuse(unavailable('starting', 'local mode is starting; retry in a moment'));
    if (draining && !SERVED_WHILE_DRAINING.has(first)) return refuse(unavailable('shutting_down', 'local mode is shutting down'));
    if (!handler) {
      const path = url.split('?')[0];
      if (path === '/healthz') return refuse({ status: 200, body: { ok: true, functions: [...routes.handlers.keys()].map((n) => `/${n}`) } });
      if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) return refuse(rootPage(routes.home, req.headers.accept));
      if (path === '/home' && (req.method === 'GET' || req.method === 'HEAD')) return refuse(homePage(routes.home, 'text/html'));
      const mounted = [...routes.handlers.keys()].map((n) => `/${n}`).join(', ');
      return refuse({ status: 404, body: errorBody('not_found', `no function at ${url.slice(0, 200)}; mounted: ${mounted}; see / for the routes`) });
    }
    const r = routes;
    readRequest(req, opts.maxBodyBytes, `/${first}`)
      .then((request) => handler(request))
      .then((out) => {
        // a stream (the dashboard's live events) stays open until its client leaves: it is
        // not a request in progress that shutdown should wait for (close() ends it)
        if (out.stream) done();
        writeResponse(res, out);
        r.answered?.(first, out);
      })
      .catch((err) => {
        opts.log.error('local server: request failed', { err });
        if (!res.headersSent) writeResponse(res, { status: 500, body: errorBody('internal', 'internal error') });
      });
  });

  return {
    listen: (port) =>
      new Promise<number>((resolve, reject) => {
        const fail = (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') {
            reject(new StartupError('port_in_use', `port ${port} is in use (another program, or another Facteur): set PORT=<a free port>, e.g. PORT=${port === 8080 ? 8081 : port + 1} npm start`, { cause: err }));
          } else if (err.code === 'EACCES') {
            reject(new StartupError('port_not_allowed', `port ${port} needs privileges this user does not have: set PORT=<a port above 1023>, e.g. PORT=8080`, { cause: err }));
          } else reject(new StartupError('listen_failed', `cannot listen on 127.0.0.1:${port} (${err.code ?? err.message})`, { cause: err }));
        };
        server.once('error', fail);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', fail);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    serve(r) {
      routes = r;
    },
    drain() {
      draining = true;
    },
    async flush(ms) {
      const until = Date.now() + ms;
      while (inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return inFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
