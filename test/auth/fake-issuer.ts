// A FAKE OIDC issuer at the outermost boundary: a node:http(s) server serving what the
// Kubernetes API server serves for service-account tokens — the discovery document and the
// JWKS — with keys made by jose, plus a way to mint tokens the way the API server's
// TokenRequest does for a Knative source. Like the API server it can demand a bearer on
// those endpoints (RBAC's system:service-account-issuer-discovery) and be served over TLS
// with a private CA (fixtures/fake-ca.crt, fixtures/fake-issuer.{crt,key}: test-only files).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const FAKE_CA_FILE = join(FIXTURES, 'fake-ca.crt');

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface TokenOptions {
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly iss?: string;
  /** Seconds from now (negative: in the past). Default 3600. */
  readonly expiresIn?: number;
  /** Seconds from now for nbf; default: now. */
  readonly notBefore?: number;
  /** Seconds from now for iat; default: now. */
  readonly issuedAt?: number;
  /** Sign with this key instead of the issuer's current one. */
  readonly key?: SigningKey;
  /** Leave `kid` out of the header. */
  readonly noKid?: boolean;
}

export type Mode = 'up' | 'down' | 'hang' | 'error';

export interface FakeIssuer {
  /** The issuer URL, exactly the tokens' `iss`. */
  readonly url: string;
  readonly jwksUrl: string;
  /** Every request's path and Authorization header, in arrival order. */
  readonly requests: { path: string; authorization: string | undefined }[];
  /** Keys in the JWKS (the first signs by default). */
  keys: SigningKey[];
  /** up; down (connections refused: the server is closed); hang (never answers); error (500). */
  setMode(mode: Mode): Promise<void>;
  token(o?: TokenOptions): Promise<string>;
  close(): Promise<void>;
}

export async function newKey(alg: 'RS256' | 'ES256' = 'RS256', kid = `key-${Math.random().toString(36).slice(2, 10)}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export interface FakeIssuerOptions {
  /** TLS with the fixture certificate (signed by FAKE_CA_FILE). */
  readonly tls?: boolean;
  /** Demand `Authorization: Bearer <this>` on discovery and JWKS, as the API server does. */
  readonly requireBearer?: string;
  /** Serve the JWKS from this URL in discovery instead of our own. */
  readonly jwksUri?: string;
  /** The `issuer` the discovery document names (default: our own URL). */
  readonly claimedIssuer?: string;
}

export async function startFakeIssuer(o: FakeIssuerOptions = {}): Promise<FakeIssuer> {
  const requests: FakeIssuer['requests'] = [];
  let mode: Mode = 'up';
  const sockets = new Set<Socket>();
  const state = { keys: [await newKey('RS256')] as SigningKey[] };
  let url = '';

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ path: req.url ?? '/', authorization: req.headers.authorization });
    if (mode === 'hang') return; // never answers
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (mode === 'error') return send(500, { message: 'FAKE issuer failure' });
    if (o.requireBearer && req.headers.authorization !== `Bearer ${o.requireBearer}`) {
      return send(401, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
    if (req.url === '/.well-known/openid-configuration') {
      return send(200, {
        issuer: o.claimedIssuer ?? url,
        jwks_uri: o.jwksUri ?? `${url}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      });
    }
    if (req.url === '/openid/v1/jwks') return send(200, { keys: state.keys.map((k) => k.jwk) });
    send(404, { message: 'not found' });
  };

  const make = (): Server => {
    const server = o.tls
      ? createHttpsServer({ key: readFileSync(join(FIXTURES, 'fake-issuer.key')), cert: readFileSync(join(FIXTURES, 'fake-issuer.crt')) }, handle)
      : createHttpServer(handle);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return server;
  };
  let server: Server | undefined = make();
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  url = `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const stop = async () => {
    if (!server) return;
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  return {
    url,
    jwksUrl: `${url}/openid/v1/jwks`,
    requests,
    get keys() {
      return state.keys;
    },
    set keys(k: SigningKey[]) {
      state.keys = k;
    },
    async setMode(next) {
      if (next === 'down') await stop();
      else if (!server) {
        server = make();
        // the same port: the issuer's URL does not change when it comes back
        await new Promise<void>((resolve, reject) => {
          server!.once('error', reject);
          server!.listen(port, '127.0.0.1', resolve);
        });
      }
      mode = next;
    },
    async token(t = {}) {
      const key = t.key ?? state.keys[0]!;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        // what a TokenRequest token carries besides the registered claims
        'kubernetes.io': { namespace: 'facteur', serviceaccount: { name: (t.sub ?? '').split(':').pop() } },
      })
        .setProtectedHeader({ alg: key.alg, ...(t.noKid ? {} : { kid: key.kid }), typ: 'JWT' })
        .setIssuer(t.iss ?? url)
        .setSubject(t.sub ?? 'system:serviceaccount:facteur:kafka-source-intake')
        .setAudience(t.aud ?? 'intake')
        .setIssuedAt(now + (t.issuedAt ?? 0))
        .setNotBefore(now + (t.notBefore ?? 0))
        .setExpirationTime(now + (t.expiresIn ?? 3600))
        .sign(key.privateKey);
    },
    close: stop,
  };
}
