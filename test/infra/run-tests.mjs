// `npm test`: start the real services the suite needs (unless DATABASE_URL / KAFKA_BROKERS
// are set), run vitest against them, stop them again, and exit with vitest's status.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServices } from './services.mjs';

// vitest's own summary plus a JSON report, from which the plain closing line is printed
// ("tests: N passed, N failed, N skipped") that any CI can read.
const reportDir = mkdtempSync(join(tmpdir(), 'facteur-report-'));
const report = join(reportDir, 'report.json');

const stopAll = await ensureServices();
let exiting = false;
const finish = (code) => {
  if (exiting) return;
  exiting = true;
  stopAll();
  if (existsSync(report)) {
    try {
      const r = JSON.parse(readFileSync(report, 'utf8'));
      const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    } catch {
      // no summary: vitest's exit code still decides
    }
  }
  rmSync(reportDir, { recursive: true, force: true });
  process.exit(code);
};
const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: process.env,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => finish(code ?? (signal ? 1 : 0)));
