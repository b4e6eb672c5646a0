// FACTEUR_HTTP_SERVER=functions-framework: the function served through the Functions
// Framework's Express app (registered under FUNCTION_TARGET, its body parsers, which also
// inflate gzip bodies), for a platform that expects the framework itself. Loaded only then:
// functions/server.ts serves with Node's own server otherwise, and says why.
import { http, type Request, type Response } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { NextFunction } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { errorBody, splitTarget, type Handler, type HttpRequest } from '../shared/http/index.js';
import { headersOf, readBody, writeResponse } from '../shared/http/node.js';
import type { Logger } from '../shared/log/index.js';

export interface FrameworkOptions {
  readonly target: string;
  readonly handler: Handler;
  readonly maxBodyBytes: number;
  readonly log: Logger;
  /** The node path, for a request announcing more than maxBodyBytes (the framework would buffer it whole). */
  readonly serveNode: (req: IncomingMessage, res: ServerResponse) => void;
  /** Called with every answer's status (the relay is nudged on a 202). */
  readonly nudge: (status: number) => void;
}

export function frameworkServer(o: FrameworkOptions): Server {
  /**
   * The framework's body parsers keep `rawBody` only for content types they recognise; for any
   * other (`content-type: %00`, none at all) the stream is still unread, and reading it here
   * keeps those bytes too, so a dead letter never loses its payload.
   */
  const toHttpRequest = async (req: Request): Promise<HttpRequest> => {
    const { path, query } = splitTarget(req.originalUrl ?? req.url);
    const base = { method: req.method, path, query, headers: headersOf(req.headers) };
    if (Buffer.isBuffer(req.rawBody)) return { ...base, body: req.rawBody, bodySize: req.rawBody.length };
    if (req.readableEnded) return { ...base, body: Buffer.alloc(0), bodySize: 0 };
    const read = await readBody(req as AsyncIterable<Buffer>, o.maxBodyBytes);
    return { ...base, body: read.body, bodySize: read.size, bodyTruncated: read.truncated };
  };
  http(o.target, async (req: Request, res: Response) => {
    const out = await o.handler(await toHttpRequest(req));
    writeResponse(res, out);
    o.nudge(out.status);
  });
  const server = getTestServer(o.target);
  // The framework's body parsers run before the function; when one rejects a body (broken
  // JSON), Express would answer with its own HTML 400 and the function would never see the
  // input. This error middleware hands such requests to the function with the raw bytes
  // the parser already captured, so they get the same 4xx and dead letter as any bad input.
  const app = server.listeners('request')[0] as unknown as { use: (fn: unknown) => void };
  app.use(async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    try {
      writeResponse(res, await o.handler(await toHttpRequest(req)));
    } catch (e) {
      o.log.error('unhandled error', { err: e });
      writeResponse(res, { status: 500, body: errorBody('internal', 'internal error') });
    }
  });
  // The framework buffers bodies up to 1 GB before the function sees them: a request that
  // announces more than maxBodyBytes goes around it, read by the node adapter, which keeps
  // only a 64 KiB prefix, and gets its 413 from the function as any other request would.
  const express = server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > o.maxBodyBytes) return o.serveNode(req, res);
    express(req, res);
  });
  return server;
}
