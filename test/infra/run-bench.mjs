// `npm run bench`: start a real PostgreSQL (unless DATABASE_URL is set), then run the
// benchmarks in test/bench/ against it. Not part of `npm test`.
import { spawn } from 'node:child_process';
import { ensureServices } from './services.mjs';

// 1 GB of shared buffers: the kb bench's HNSW index over 100k vectors must stay in PostgreSQL's
// own cache, as a production server sized for its knowledge base keeps it (docs/kb-retrieve.md)
const stopAll = await ensureServices({ kafka: false, sharedBuffers: '1GB' });
const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', ...process.argv.slice(2)], { stdio: 'inherit', env: process.env });
const finish = (code) => {
  stopAll();
  process.exit(code);
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => finish(code ?? (signal ? 1 : 0)));
