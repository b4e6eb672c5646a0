// `npm test`: start the real services the suite needs (unless DATABASE_URL / KAFKA_BROKERS
// are set), run vitest against them, stop them again, and exit with vitest's status.
import { spawn } from 'node:child_process';
import { ensureServices } from './services.mjs';

const stopAll = await ensureServices();
let exiting = false;
const finish = (code) => {
  if (exiting) return;
  exiting = true;
  stopAll();
  process.exit(code);
};
const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: process.env,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => finish(code ?? (signal ? 1 : 0)));
