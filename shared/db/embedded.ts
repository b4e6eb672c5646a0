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

export async function startEmbedded(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = resolve(dataDir, 'pgdata');
  mkdirSync(dir, { recursive: true });
  const [{ PGlite }, { vector }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/vector'),
    import('@electric-sql/pglite-socket'),
  ]);
  const db = await PGlite.create({ dataDir: dir, extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const conn = server.getServerConn();
  const url = `postgres://postgres@${conn}/postgres?sslmode=disable`;
  return {
    url,
    dataDir: dir,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
