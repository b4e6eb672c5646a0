// Local mode's database: PostgreSQL compiled to WebAssembly (PGlite, with pgvector),
// in this process, its files in the data dir, reached over the PostgreSQL wire protocol on
// loopback so the product code runs the very same postgres.js queries as in production.
// PGlite has ONE session: every connection shares it, so callers must use a pool of one
// connection (transactions would otherwise interleave). Loaded lazily: production never
// imports PGlite.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export interface EmbeddedDatabase {
  readonly url: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

/**
 * PGlite could not open its files. Its WebAssembly runtime says little more than
 * `RuntimeError: Aborted()`: most often the files are damaged (two processes wrote them at
 * once, or they were copied while in use). The message is one line; the cause has the rest.
 */
export class EmbeddedOpenError extends Error {
  readonly code = 'embedded_open_failed';
  constructor(readonly dir: string, cause: unknown) {
    const first = (cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)).split('\n')[0]!.slice(0, 200);
    super(`the embedded database in ${dir} does not open (${first})`, { cause });
  }
}

/** Opens the database in `<dataDir>/pgdata`. The caller must hold the data dir's lock. */
export async function startEmbedded(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = resolve(dataDir, 'pgdata');
  mkdirSync(dir, { recursive: true });
  const [{ PGlite }, { vector }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/vector'),
    import('@electric-sql/pglite-socket'),
  ]);
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create({ dataDir: dir, extensions: { vector } });
  } catch (err) {
    throw new EmbeddedOpenError(dir, err);
  }
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const conn = server.getServerConn();
  const url = `postgres://postgres@${conn}/postgres?sslmode=disable`;
  let closed: Promise<void> | undefined;
  return {
    url,
    dataDir: dir,
    // closing PGlite writes its last changes out: what makes the next open a clean one
    close: () =>
      (closed ??= (async () => {
        await server.stop().catch(() => {});
        await db.close();
      })()),
  };
}
