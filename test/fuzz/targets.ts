// The functions as the cluster runs them: each its own process through the container entry
// point (functions/server.ts, the Functions Framework), on one real PostgreSQL database, with
// dispatch and callbacks talking to the FAKE Kubernetes API over HTTP. Fuzzing the production
// adapter catches what an in-process handler would not (body parsers, the framework's own
// answers).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { readAnswer } from '../helpers/http.js';
import { freePort, spawnEntry, type Child } from '../helpers/spawn.js';

export const CALLBACK_SECRET = 'fuzz-callback-secret';
export const STATUS_TOKEN = 'fuzz-status-token';
/** The Discord application's key pair: intake verifies /discord/interactions with the public half. */
export const DISCORD_KEYS = generateKeyPairSync('ed25519');
const DISCORD_PUBLIC_HEX = DISCORD_KEYS.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');

export type Target = 'intake' | 'dispatch' | 'callbacks' | 'status' | 'policy';

export interface Targets {
  readonly db: TestDb;
  readonly kube: FakeKube;
  readonly urls: Record<Target, string>;
  readonly children: Record<string, Child>;
  close(): Promise<void>;
}

export async function startTargets(names: readonly Target[]): Promise<Targets> {
  const db = await createTestDb();
  const kube = await startFakeKube();
  const dir = mkdtempSync(join(tmpdir(), 'facteur-fuzz-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeConfig().exportConfig());
  const urls = {} as Targets['urls'];
  const children: Record<string, Child> = {};
  const ports = Object.fromEntries(await Promise.all((['intake', 'dispatch', 'callbacks', 'status', 'policy'] as const).map(async (n) => [n, await freePort()] as const)));
  for (const n of ['intake', 'dispatch', 'callbacks', 'status', 'policy'] as const) urls[n] = `http://127.0.0.1:${ports[n]}`;
  await Promise.all(
    names.map(async (name) => {
      children[name] = await spawnEntry(
        'functions/server.ts',
        {
          FUNCTION_TARGET: name,
          PORT: String(ports[name]),
          DATABASE_URL: db.url,
          DATABASE_POOL_SIZE: '4',
          FACTEUR_RUN_MIGRATIONS: 'false',
          FACTEUR_CALLBACK_SECRET: CALLBACK_SECRET,
          FACTEUR_STATUS_TOKEN: STATUS_TOKEN,
          FACTEUR_DISCORD_PUBLIC_KEY: DISCORD_PUBLIC_HEX,
          FACTEUR_PUBLIC_URL: urls.callbacks,
          FACTEUR_RETRY_BASE_MS: '0',
          FACTEUR_LOG_LEVEL: 'info',
          KUBECONFIG: kubeconfig,
        },
        /"msg":"serving"/,
        30_000,
      );
    }),
  );
  return {
    db,
    kube,
    urls,
    children,
    async close() {
      await Promise.all(Object.values(children).map((c) => c.stop()));
      await kube.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly body: any;
}

export async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array | string }): Promise<Answer> {
  return readAnswer(await fetch(url, { method: init.method ?? 'POST', headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body as RequestInit['body'] } : {}) }));
}

/** `send`, or undefined when fetch itself refuses a header value HTTP cannot carry (NUL, CR/LF): nothing was sent. */
export async function sendUnlessRefused(url: string, init: Parameters<typeof send>[1]): Promise<Answer | undefined> {
  return send(url, init).catch((err: unknown) => {
    if (err instanceof TypeError) return undefined;
    throw err;
  });
}

/** What a failed property prints about a request and its answer. */
export function describe(what: string, body: Uint8Array | string | undefined, answer: Answer): string {
  const shown = body === undefined ? '' : typeof body === 'string' ? JSON.stringify(body.slice(0, 300)) : Buffer.from(body).toString('hex').slice(0, 300);
  return `${what} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}; body ${shown}`;
}
